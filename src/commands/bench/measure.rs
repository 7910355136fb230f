//! Measuring a phase: wall time, CPU time and peak memory of this process, and latency
//! percentiles.

use std::time::{Duration, Instant};

use serde::Serialize;

/// CPU seconds (user + system) this process has used so far, from `/proc/self/stat`.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / clock_ticks_per_second()
}

/// CPU seconds the calling thread has used so far (nanosecond resolution).
pub fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_THREAD_CPUTIME_ID is
    // supported by every Linux kernel Kestrel runs on.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn clock_ticks_per_second() -> f64 {
    // Linux reports CPU times in USER_HZ, 100 on every mainstream architecture.
    100.0
}

/// Peak resident memory of this process since the last [`reset_peak_rss`], in bytes.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Resets the peak resident memory counter (Linux `clear_refs` 5), so the next reading is the
/// peak of the coming phase.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Wall time, CPU time and peak memory of one phase.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
pub struct PhaseCost {
    /// Wall-clock seconds.
    pub seconds: f64,
    /// CPU seconds (user + system) over all threads.
    pub cpu_seconds: f64,
    /// Peak resident memory during the phase, bytes.
    pub peak_rss_bytes: u64,
}

/// Runs `work` and measures it.
pub fn measure<T>(work: impl FnOnce() -> T) -> (T, PhaseCost) {
    reset_peak_rss();
    let cpu = cpu_seconds();
    let started = Instant::now();
    let value = work();
    let cost = PhaseCost {
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: cpu_seconds() - cpu,
        peak_rss_bytes: peak_rss_bytes(),
    };
    (value, cost)
}

/// Latency distribution of repeated runs, milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Runs measured.
    pub runs: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile (the slowest run when fewer than 100).
    pub p99_ms: f64,
    /// Fastest run.
    pub min_ms: f64,
}

impl Latency {
    /// Summarizes durations.
    pub fn of(mut samples: Vec<Duration>) -> Latency {
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let at = |q: f64| {
            let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples.get(index).copied().map_or(0.0, ms)
        };
        Latency {
            runs: samples.len(),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            min_ms: samples.first().copied().map_or(0.0, ms),
        }
    }
}

/// Times `runs` calls of `work` (after one warm-up call).
pub fn latency<T>(runs: usize, mut work: impl FnMut() -> T) -> (Latency, T) {
    let mut last = work();
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        last = work();
        samples.push(started.elapsed());
    }
    (Latency::of(samples), last)
}

/// Total size of the files under `dir`, bytes.
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_samples() {
        let samples = (1..=100).map(Duration::from_millis).collect();
        let latency = Latency::of(samples);
        assert_eq!(latency.runs, 100);
        assert!((latency.p50_ms - 51.0).abs() < 1.01);
        assert!((latency.p99_ms - 99.0).abs() < 1.01);
        assert_eq!(latency.min_ms, 1.0);
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = cpu_seconds();
        let mut x = 0u64;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(300) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        assert!(x != 42);
        assert!(cpu_seconds() - before >= 0.1);
    }
}
