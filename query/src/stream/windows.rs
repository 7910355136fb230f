//! Cutting a UTC day into windows of seconds holding at most a given number of matching
//! events, so that the sort keys held at once stay bounded whatever a day holds.

use std::ops::Range;

/// Consecutive windows covering every non-empty second of `histogram` (counts per second of
/// the day), each holding at most `max_keys` events unless a single second holds more.
/// Windows without any event are left out; the whole day is one window when it fits.
pub(crate) fn windows(histogram: &[u64], max_keys: usize) -> Vec<Range<usize>> {
    let max_keys = max_keys.max(1) as u64;
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return Vec::new();
    }
    if total <= max_keys {
        let whole_day = 0..histogram.len();
        return vec![whole_day];
    }
    let mut windows = Vec::new();
    let mut start = 0;
    let mut held = 0u64;
    for (second, &count) in histogram.iter().enumerate() {
        if held > 0 && held + count > max_keys {
            windows.push(start..second);
            start = second;
            held = 0;
        }
        held += count;
    }
    if held > 0 {
        windows.push(start..histogram.len());
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_that_fits_is_one_window() {
        let mut histogram = vec![0; 10];
        histogram[3] = 4;
        histogram[7] = 5;
        let whole = 0..10;
        assert_eq!(windows(&histogram, 9), vec![whole]);
        assert_eq!(windows(&[0; 10], 9), Vec::<Range<usize>>::new());
    }

    #[test]
    fn windows_hold_at_most_the_bound_and_cover_every_event() {
        let histogram = vec![3, 0, 2, 2, 0, 0, 5, 1, 0, 4];
        let cut = windows(&histogram, 5);
        assert_eq!(cut, vec![0..3, 3..6, 6..7, 7..10]);
        for window in &cut {
            assert!(histogram[window.clone()].iter().sum::<u64>() <= 5);
        }
        let covered: u64 = cut
            .iter()
            .map(|w| histogram[w.clone()].iter().sum::<u64>())
            .sum();
        assert_eq!(covered, histogram.iter().sum::<u64>());
    }

    #[test]
    fn a_second_above_the_bound_is_a_window_of_its_own() {
        let histogram = vec![1, 9, 1];
        assert_eq!(windows(&histogram, 2), vec![0..1, 1..2, 2..3]);
    }
}
