//! Injected log-volume anomalies: a container logging 10–50 times its rate for a few minutes
//! (`volume-spike`), or going silent for some minutes (`volume-dip`).

use crate::rng::Rng;

/// Salt of the anomalies' own random stream (the other files' bytes do not change).
const SALT: u64 = 0x766f_6c75_6d65;

const MINUTE_NS: i64 = 60_000_000_000;

/// One anomaly of one container.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct VolumeAnomaly {
    /// Spike (else dip).
    pub spike: bool,
    /// For a spike: how many times each line is written.
    pub factor: u32,
    /// Start (ns since the epoch).
    pub start_ns: i64,
    /// End (exclusive).
    pub end_ns: i64,
    /// Whether its ground truth was recorded.
    pub recorded: bool,
}

impl VolumeAnomaly {
    /// Whether `at_ns` falls within it.
    pub fn covers(&self, at_ns: i64) -> bool {
        (self.start_ns..self.end_ns).contains(&at_ns)
    }

    /// `volume-spike` or `volume-dip`.
    pub fn pattern(&self) -> &'static str {
        if self.spike {
            "volume-spike"
        } else {
            "volume-dip"
        }
    }
}

/// `count` anomalies over `containers` containers, in the second half of the span (after the
/// baselines had time to learn), alternately spikes and dips, never two on one container at
/// once: per container index, its anomalies.
pub(crate) fn plan(
    seed: u64,
    count: u64,
    containers: usize,
    start_ns: i64,
    span_ns: i64,
) -> Vec<Vec<VolumeAnomaly>> {
    let mut per_container: Vec<Vec<VolumeAnomaly>> = vec![Vec::new(); containers];
    if containers == 0 {
        return per_container;
    }
    let mut rng = Rng::new(seed ^ SALT);
    for i in 0..count {
        let spike = i % 2 == 0;
        let minutes = if spike {
            rng.range(2, 5)
        } else {
            rng.range(5, 15)
        } as i64;
        let from = start_ns + span_ns / 2;
        let room = (span_ns * 2 / 5 - minutes * MINUTE_NS).max(1);
        let start = from + (rng.f64() * room as f64) as i64;
        let anomaly = VolumeAnomaly {
            spike,
            factor: rng.range(10, 50) as u32,
            start_ns: start,
            end_ns: start + minutes * MINUTE_NS,
            recorded: false,
        };
        let c = rng.below(containers);
        let overlaps = per_container[c].iter().any(|a| {
            a.start_ns < anomaly.end_ns + 30 * MINUTE_NS
                && anomaly.start_ns < a.end_ns + 30 * MINUTE_NS
        });
        if !overlaps {
            per_container[c].push(anomaly);
        }
    }
    per_container
}
