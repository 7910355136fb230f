//! Learned volume baselines: the Kestrel `volume_baseline` correlation type.
//!
//! Matches of the referenced rules are counted per group (the correlation's `group-by`
//! values) in bins of `timespan`. Each closed bin updates, for its time-of-day bucket, an
//! exponentially weighted mean and deviation of the count. A closed bin is an anomaly when,
//! after `warmup` bins of that bucket were seen, its count is above `mean + deviations · dev`
//! (`direction: spike`, the count being at least `min_volume`) or below
//! `mean − deviations · dev` (`direction: dip`, the mean being at least `min_volume`; a bin
//! without any line counts zero). The deviation is never taken below `√mean` (counts of
//! lines are at least as noisy as a Poisson process) nor below 1.
//!
//! Bins close in event time, for every group at once, so a group that goes silent closes
//! zero-count bins as soon as event time (or the wall clock, through
//! [`BaselineState::advance`] from `close_windows`) moves on. One alert is raised per
//! anomalous episode: the next one only after a normal bin of that group.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most groups tracked per baseline correlation.
pub const MAX_BASELINE_GROUPS: usize = 50_000;

/// Most bins closed at once when event time jumps (a longer gap closes only these).
const MAX_GAP_BINS: i64 = 1_440;

/// Most event ids remembered per group and bin.
const MAX_BIN_IDS: usize = 100;

/// Which side of the baseline raises an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A count far above the mean.
    Spike,
    /// A count far below the mean (down to silence).
    Dip,
}

impl Direction {
    /// `spike` or `dip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Spike => "spike",
            Direction::Dip => "dip",
        }
    }
}

/// The `baseline` section of a `volume_baseline` correlation.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineConfig {
    /// Time-of-day buckets (24: one per hour; 1: a single baseline).
    pub buckets: u32,
    /// Weight of a new bin in the mean and deviation, in (0, 1].
    pub alpha: f64,
    /// How many deviations from the mean make an anomaly.
    pub deviations: f64,
    /// Least count (spike) or mean (dip) for an alert.
    pub min_volume: f64,
    /// Bins of a bucket seen before it may alert.
    pub warmup: u32,
    /// Spike or dip.
    pub direction: Direction,
}

impl Default for BaselineConfig {
    fn default() -> BaselineConfig {
        BaselineConfig {
            buckets: 24,
            alpha: 0.1,
            deviations: 4.0,
            min_volume: 20.0,
            warmup: 30,
            direction: Direction::Spike,
        }
    }
}

impl BaselineConfig {
    /// Parses the `baseline` mapping; the error names the field at fault (`baseline.alpha`).
    pub fn parse(map: Option<&Map<String, Value>>) -> Result<BaselineConfig, (String, String)> {
        let mut config = BaselineConfig::default();
        for (key, value) in map.into_iter().flatten() {
            let field = format!("baseline.{key}");
            let number = || {
                value
                    .as_f64()
                    .ok_or_else(|| (field.clone(), format!("{key} needs a number")))
            };
            match key.as_str() {
                "buckets" => config.buckets = whole(number()?, 1, 1_440, &field)?,
                "warmup" => config.warmup = whole(number()?, 1, 1_000_000, &field)?,
                "alpha" => config.alpha = within(number()?, 1e-6, 1.0, &field)?,
                "deviations" => config.deviations = within(number()?, 0.0, 1e6, &field)?,
                "min_volume" => config.min_volume = within(number()?, 0.0, 1e12, &field)?,
                "direction" => {
                    config.direction = match value.as_str() {
                        Some("spike") => Direction::Spike,
                        Some("dip") => Direction::Dip,
                        _ => return Err((field, "direction is spike or dip".into())),
                    }
                }
                other => return Err((field, format!("unknown setting {other:?}"))),
            }
        }
        Ok(config)
    }

    /// The time-of-day bucket of a bin starting at `start_ms`.
    fn bucket(&self, start_ms: i64) -> usize {
        let day_ms = 86_400_000i64;
        let of_day = start_ms.rem_euclid(day_ms);
        ((of_day * i64::from(self.buckets)) / day_ms) as usize
    }
}

fn whole(n: f64, min: u32, max: u32, field: &str) -> Result<u32, (String, String)> {
    if n.fract() != 0.0 || n < f64::from(min) || n > f64::from(max) {
        return Err((
            field.to_owned(),
            format!("{n} is not a whole number from {min} to {max}"),
        ));
    }
    Ok(n as u32)
}

fn within(n: f64, min: f64, max: f64, field: &str) -> Result<f64, (String, String)> {
    if !(min..=max).contains(&n) {
        return Err((field.to_owned(), format!("{n} is not within {min}..={max}")));
    }
    Ok(n)
}

/// The learned mean and variance of one time-of-day bucket.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Stats {
    mean: f64,
    var: f64,
    seen: u32,
}

impl Stats {
    fn learn(&mut self, count: f64, alpha: f64) {
        if self.seen == 0 {
            self.mean = count;
            self.var = 0.0;
        } else {
            let diff = count - self.mean;
            self.mean += alpha * diff;
            self.var = (1.0 - alpha) * (self.var + alpha * diff * diff);
        }
        self.seen = self.seen.saturating_add(1);
    }

    fn deviation(&self) -> f64 {
        self.var.sqrt().max(self.mean.sqrt()).max(1.0)
    }
}

/// One group's open bin and learned buckets.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct GroupBaseline {
    /// Group-by values, in the correlation's order.
    values: Vec<String>,
    /// Lines in the open bin.
    count: u64,
    /// Some event ids of the open bin.
    ids: Vec<String>,
    /// Per time-of-day bucket.
    buckets: Vec<Stats>,
    /// Whether the last closed bin was an anomaly (one alert per episode).
    anomalous: bool,
}

/// The baseline of one correlation: the open bin's start and every group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CorrelationBaseline {
    /// Start of the open bin (ms since the epoch).
    open_ms: i64,
    groups: HashMap<String, GroupBaseline>,
}

/// A closed bin out of its baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineHit {
    /// Which correlation.
    pub correlation: String,
    /// group-by field → value.
    pub group: BTreeMap<String, String>,
    /// Spike or dip.
    pub direction: Direction,
    /// Lines in the bin.
    pub count: u64,
    /// Learned mean for the bin's time of day.
    pub mean: f64,
    /// Learned deviation.
    pub deviation: f64,
    /// Bin start, ms since the epoch.
    pub start_ms: i64,
    /// Bin end.
    pub end_ms: i64,
    /// Some ids of the bin's events.
    pub event_ids: Vec<String>,
}

/// The baselines of every `volume_baseline` correlation, serializable to survive restarts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BaselineState {
    /// correlation id → its baseline.
    correlations: BTreeMap<String, CorrelationBaseline>,
}

/// What [`BaselineState`] needs of a correlation.
#[derive(Debug, Clone, Copy)]
pub struct BaselineRef<'a> {
    /// Correlation id.
    pub id: &'a str,
    /// Bin length (ms).
    pub timespan_ms: i64,
    /// Group-by field names.
    pub group_by: &'a [String],
    /// Settings.
    pub config: &'a BaselineConfig,
}

impl BaselineState {
    /// Counts one match in its group's open bin (closing earlier bins first).
    pub fn observe(
        &mut self,
        baseline: BaselineRef<'_>,
        values: Vec<String>,
        event_id: &str,
        at_ms: i64,
        hits: &mut Vec<BaselineHit>,
    ) {
        self.advance(baseline, at_ms, hits);
        let state = self.correlations.entry(baseline.id.to_owned()).or_default();
        let key = values.join("\u{1f}");
        if state.groups.len() >= MAX_BASELINE_GROUPS && !state.groups.contains_key(&key) {
            return;
        }
        let group = state.groups.entry(key).or_insert_with(|| GroupBaseline {
            values,
            buckets: vec![Stats::default(); baseline.config.buckets as usize],
            ..GroupBaseline::default()
        });
        group.count += 1;
        if group.ids.len() < MAX_BIN_IDS {
            group.ids.push(event_id.to_owned());
        }
    }

    /// Closes the bins of `baseline` that ended by `now_ms` (event or wall-clock time).
    pub fn advance(&mut self, baseline: BaselineRef<'_>, now_ms: i64, hits: &mut Vec<BaselineHit>) {
        let span = baseline.timespan_ms.max(1);
        // Saturating: an event time far in the past must not overflow the bin arithmetic.
        let now_bin = now_ms.div_euclid(span).saturating_mul(span);
        let state = self.correlations.entry(baseline.id.to_owned()).or_default();
        if state.groups.is_empty() || state.open_ms == 0 {
            if state.open_ms < now_bin {
                state.open_ms = now_bin;
            }
            return;
        }
        if now_bin <= state.open_ms {
            return;
        }
        let mut start = state
            .open_ms
            .max(now_bin.saturating_sub(MAX_GAP_BINS.saturating_mul(span)));
        while start < now_bin {
            close_bin(baseline, state, start, hits);
            start += span;
        }
        state.open_ms = now_bin;
        state
            .groups
            .retain(|_, g| g.count > 0 || g.buckets.iter().any(|s| s.mean >= 0.01));
    }

    /// Groups tracked, over all baselines.
    pub fn groups(&self) -> usize {
        self.correlations.values().map(|c| c.groups.len()).sum()
    }
}

fn close_bin(
    baseline: BaselineRef<'_>,
    state: &mut CorrelationBaseline,
    start_ms: i64,
    hits: &mut Vec<BaselineHit>,
) {
    let config = baseline.config;
    let bucket = config.bucket(start_ms);
    for group in state.groups.values_mut() {
        let count = std::mem::take(&mut group.count);
        let ids = std::mem::take(&mut group.ids);
        let Some(stats) = group.buckets.get_mut(bucket) else {
            continue;
        };
        let hit = judge(config, stats, count as f64);
        stats.learn(count as f64, config.alpha);
        let Some((mean, deviation)) = hit else {
            group.anomalous = false;
            continue;
        };
        if std::mem::replace(&mut group.anomalous, true) {
            continue;
        }
        hits.push(BaselineHit {
            correlation: baseline.id.to_owned(),
            group: baseline
                .group_by
                .iter()
                .cloned()
                .zip(group.values.iter().cloned())
                .collect(),
            direction: config.direction,
            count,
            mean,
            deviation,
            start_ms,
            end_ms: start_ms + baseline.timespan_ms,
            event_ids: ids,
        });
    }
}

/// The (mean, deviation) when `count` is out of the learned baseline in the configured way.
fn judge(config: &BaselineConfig, stats: &Stats, count: f64) -> Option<(f64, f64)> {
    if stats.seen < config.warmup {
        return None;
    }
    let deviation = stats.deviation();
    let out = match config.direction {
        Direction::Spike => {
            count >= config.min_volume && count > stats.mean + config.deviations * deviation
        }
        Direction::Dip => {
            stats.mean >= config.min_volume && count < stats.mean - config.deviations * deviation
        }
    };
    out.then_some((stats.mean, deviation))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(direction: Direction) -> BaselineConfig {
        BaselineConfig {
            buckets: 1,
            alpha: 0.1,
            deviations: 4.0,
            min_volume: 20.0,
            warmup: 10,
            direction,
        }
    }

    /// Feeds `counts[i]` lines in minute `i` (from minute 1), then closes the last one.
    fn run(
        state: &mut BaselineState,
        config: &BaselineConfig,
        from: i64,
        counts: &[u64],
    ) -> Vec<BaselineHit> {
        let group_by = vec!["container.name".to_owned()];
        let baseline = BaselineRef {
            id: "b",
            timespan_ms: 60_000,
            group_by: &group_by,
            config,
        };
        let mut hits = Vec::new();
        for (i, &n) in counts.iter().enumerate() {
            let minute = from + i as i64;
            for j in 0..n {
                let at = minute * 60_000 + (j as i64 * 59_000) / n.max(1) as i64;
                state.observe(
                    baseline,
                    vec!["api".into()],
                    &format!("e{minute}-{j}"),
                    at,
                    &mut hits,
                );
            }
            state.advance(baseline, (minute + 1) * 60_000, &mut hits);
        }
        hits
    }

    fn steady(n: usize) -> Vec<u64> {
        (0..n).map(|i| 50 + (i as u64 * 7) % 11).collect()
    }

    #[test]
    fn learns_then_flags_a_spike_once_per_episode() {
        let c = config(Direction::Spike);
        let mut state = BaselineState::default();
        assert!(run(&mut state, &c, 1, &steady(40)).is_empty());
        let hits = run(&mut state, &c, 41, &[500, 600, 55]);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].count, 500);
        assert_eq!(hits[0].group["container.name"], "api");
        assert!(
            hits[0].mean > 45.0 && hits[0].mean < 65.0,
            "{}",
            hits[0].mean
        );
    }

    #[test]
    fn flags_a_dip_to_silence_from_the_clock_alone() {
        let c = config(Direction::Dip);
        let mut state = BaselineState::default();
        assert!(run(&mut state, &c, 1, &steady(40)).is_empty());
        let group_by = vec!["container.name".to_owned()];
        let baseline = BaselineRef {
            id: "b",
            timespan_ms: 60_000,
            group_by: &group_by,
            config: &c,
        };
        let mut hits = Vec::new();
        state.advance(baseline, 43 * 60_000, &mut hits);
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!((hits[0].count, hits[0].direction), (0, Direction::Dip));
    }

    #[test]
    fn extreme_clocks_do_not_overflow() {
        let c = config(Direction::Dip);
        let mut state = BaselineState::default();
        assert!(run(&mut state, &c, 1, &steady(20)).is_empty());
        let group_by = vec!["container.name".to_owned()];
        let baseline = BaselineRef {
            id: "b",
            timespan_ms: 60_000,
            group_by: &group_by,
            config: &c,
        };
        let mut hits = Vec::new();
        state.advance(baseline, i64::MIN + 1, &mut hits);
        state.advance(baseline, i64::MAX - 1, &mut hits);
    }

    #[test]
    fn steady_noise_is_silent() {
        for direction in [Direction::Spike, Direction::Dip] {
            let c = config(direction);
            let mut state = BaselineState::default();
            assert!(run(&mut state, &c, 1, &steady(300)).is_empty());
        }
    }

    #[test]
    fn no_alert_during_warmup_or_below_min_volume() {
        let c = config(Direction::Spike);
        let mut state = BaselineState::default();
        assert!(
            run(&mut state, &c, 1, &[50, 52, 48, 5000]).is_empty(),
            "warm-up"
        );
        let mut quiet = BaselineState::default();
        let mut counts = vec![1; 40];
        counts.push(15);
        assert!(
            run(&mut quiet, &c, 1, &counts).is_empty(),
            "below min_volume"
        );
        let dip = config(Direction::Dip);
        let mut quiet = BaselineState::default();
        let mut counts = vec![10; 40];
        counts.extend([0, 0]);
        assert!(
            run(&mut quiet, &dip, 1, &counts).is_empty(),
            "dip of a quiet one"
        );
    }

    #[test]
    fn the_baseline_survives_serialization() {
        let c = config(Direction::Spike);
        let mut state = BaselineState::default();
        run(&mut state, &c, 1, &steady(40));
        let saved = serde_json::to_string(&state).unwrap();
        let mut restored: BaselineState = serde_json::from_str(&saved).unwrap();
        assert_eq!(run(&mut restored, &c, 41, &[500]).len(), 1);
    }

    #[test]
    fn bad_settings_name_the_field() {
        let map = serde_json::json!({"alpha": 2.0});
        let err = BaselineConfig::parse(map.as_object()).unwrap_err();
        assert_eq!(err.0, "baseline.alpha");
        let map = serde_json::json!({"warmup": "x"});
        assert_eq!(
            BaselineConfig::parse(map.as_object()).unwrap_err().0,
            "baseline.warmup"
        );
        let map = serde_json::json!({"colour": 1});
        assert_eq!(
            BaselineConfig::parse(map.as_object()).unwrap_err().0,
            "baseline.colour"
        );
    }
}
