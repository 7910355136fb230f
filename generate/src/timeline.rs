//! Deterministic timestamps: a daily traffic curve over the span, and per-file clocks that hand
//! out strictly increasing instants.

use crate::rng::Rng;

/// Relative amplitude of the daily curve: traffic at 14:00 UTC is `(1 + A) / (1 - A)` = 3 times
/// the traffic at 02:00 UTC.
pub(crate) const DAILY_AMPLITUDE: f64 = 0.5;
/// Hour (UTC) of the daily peak.
const PEAK_HOUR: f64 = 14.0;
/// Points of the inverse cumulative table.
const TABLE: usize = 4096;
/// Steps of the numeric integration building it.
const GRID: usize = 1 << 16;

/// Maps a fraction of the records of a stream to an instant, so that records are denser in the
/// afternoon than at night.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    base_ns: i64,
    span_ns: i64,
    /// `inverse[k]`: the fraction of the span by which `k / TABLE` of the traffic has passed.
    inverse: Vec<f64>,
}

impl Timeline {
    /// The timeline starting at `base_ns` (Unix nanoseconds) and lasting `span_ns`.
    pub fn new(base_ns: i64, span_ns: i64) -> Timeline {
        let day = 86_400e9;
        let density = |x: f64| {
            let at = base_ns as f64 + x * span_ns as f64;
            let hour = (at.rem_euclid(day)) / 3.6e12;
            1.0 + DAILY_AMPLITUDE * (std::f64::consts::TAU * (hour - PEAK_HOUR) / 24.0).cos()
        };
        let mut cumulative = Vec::with_capacity(GRID + 1);
        let mut total = 0.0;
        let mut previous = density(0.0);
        cumulative.push(0.0);
        for j in 1..=GRID {
            let next = density(j as f64 / GRID as f64);
            total += (previous + next) / 2.0;
            cumulative.push(total);
            previous = next;
        }
        let mut inverse = Vec::with_capacity(TABLE + 1);
        let mut j = 0;
        for k in 0..=TABLE {
            let want = total * k as f64 / TABLE as f64;
            while j < GRID && cumulative[j + 1] < want {
                j += 1;
            }
            let (lo, hi) = (cumulative[j], cumulative[(j + 1).min(GRID)]);
            let within = if hi > lo {
                (want - lo) / (hi - lo)
            } else {
                0.0
            };
            inverse.push(((j as f64 + within.clamp(0.0, 1.0)) / GRID as f64).min(1.0));
        }
        Timeline {
            base_ns,
            span_ns,
            inverse,
        }
    }

    /// The instant by which fraction `u` (`0..=1`) of a stream's records has been written.
    pub fn at(&self, u: f64) -> i64 {
        let pos = u.clamp(0.0, 1.0) * TABLE as f64;
        let k = (pos as usize).min(TABLE - 1);
        let x = self.inverse[k] + (self.inverse[k + 1] - self.inverse[k]) * (pos - k as f64);
        self.base_ns + (x * self.span_ns as f64) as i64
    }
}

/// Hands out the timestamps of one file: record `i` of `n` falls at a random point of the
/// `i`-th of `n` equal shares of the traffic (so a file's records spread over the whole span
/// with jitter), and bursts (stack-trace lines, split-line chunks, attack bursts) follow the
/// previous record closely. Instants strictly increase, in steps of at least the resolution.
#[derive(Debug)]
pub(crate) struct Clock<'a> {
    timeline: &'a Timeline,
    n: u64,
    i: u64,
    last: i64,
    resolution: i64,
}

impl<'a> Clock<'a> {
    /// A clock for `n` records; instants are multiples of `resolution` nanoseconds.
    pub fn new(timeline: &'a Timeline, n: u64, resolution: i64) -> Clock<'a> {
        Clock {
            timeline,
            n: n.max(1),
            i: 0,
            last: timeline.base_ns - resolution,
            resolution,
        }
    }

    fn set(&mut self, at: i64) -> i64 {
        let at = at - at.rem_euclid(self.resolution);
        self.last = at.max(self.last + self.resolution);
        self.last
    }

    /// The next independent record's instant.
    pub fn next(&mut self, rng: &mut Rng) -> i64 {
        let u = (self.i as f64 + rng.f64()) / self.n as f64;
        self.i += 1;
        let at = self.timeline.at(u);
        self.set(at)
    }

    /// A record following the previous one by `lo..=hi` nanoseconds.
    pub fn burst(&mut self, rng: &mut Rng, lo: u64, hi: u64) -> i64 {
        self.i += 1;
        self.nudge(rng, lo, hi)
    }

    /// Like [`Clock::burst`] without using up a record's share (a chunk of a split line).
    pub fn nudge(&mut self, rng: &mut Rng, lo: u64, hi: u64) -> i64 {
        let step = rng.range(lo, hi) as i64;
        self.set(self.last + step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_over_the_span_with_a_daily_curve() {
        let day = 86_400_000_000_000i64;
        let timeline = Timeline::new(0, day);
        assert_eq!(timeline.at(0.0), 0);
        assert!((timeline.at(1.0) - day).abs() < 1_000_000_000);
        let mut rng = Rng::new(3);
        let mut clock = Clock::new(&timeline, 100_000, 1000);
        let mut per_hour = [0u32; 24];
        let mut previous = i64::MIN;
        for _ in 0..100_000 {
            let at = clock.next(&mut rng);
            assert!(at > previous && at % 1000 == 0);
            previous = at;
            per_hour[(at / 3_600_000_000_000) as usize] += 1;
        }
        assert!(per_hour[14] > 2 * per_hour[2], "{per_hour:?}");
        let burst = clock.burst(&mut rng, 10, 20);
        assert!(burst > previous);
    }
}
