//! Date histogram intervals: parsing (`1m`, `1h`, `1d`), the `auto` choice, and the exact
//! mapping between nanosecond timestamps and bucket numbers.
//!
//! Buckets are aligned to whole multiples of the interval since the Unix epoch, so that days
//! start at UTC midnight and hours on the hour; intervals that are whole weeks start on
//! Mondays. All arithmetic is on `i64` nanoseconds: no floating point, so an event a
//! nanosecond before a boundary stays in the earlier bucket.

use std::fmt;

const SECOND: i64 = 1_000_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
/// 1970-01-01 was a Thursday: weeks shifted by four days start on Mondays.
const MONDAY_OFFSET: i64 = 4 * DAY;

/// The widths `auto` chooses from, smallest first; beyond the last, multiples of it.
const AUTO_STEPS: [i64; 17] = [
    SECOND,
    5 * SECOND,
    10 * SECOND,
    30 * SECOND,
    MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    30 * MINUTE,
    HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    WEEK,
    30 * DAY,
    90 * DAY,
    365 * DAY,
];

/// A fixed bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interval {
    nanos: i64,
}

impl Interval {
    /// An interval of `nanos` nanoseconds (at least one millisecond).
    pub fn from_nanos(nanos: i64) -> Option<Interval> {
        (nanos >= 1_000_000).then_some(Interval { nanos })
    }

    /// Parses `<n><unit>` with unit `ms`, `s`, `m`, `h`, `d` or `w` (`90s`, `15m`, `1h`, `1d`).
    pub fn parse(text: &str) -> Result<Interval, String> {
        let invalid = || {
            format!(
                "invalid interval {text:?}: expected \"auto\" or a number with a unit ms, s, m, \
                 h, d or w (\"1m\", \"1h\", \"1d\")"
            )
        };
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(invalid)?;
        let (number, unit) = text.split_at(split);
        let number: i64 = number.parse().map_err(|_| invalid())?;
        let unit = match unit {
            "ms" => 1_000_000,
            "s" => SECOND,
            "m" => MINUTE,
            "h" => HOUR,
            "d" => DAY,
            "w" => WEEK,
            _ => return Err(invalid()),
        };
        number
            .checked_mul(unit)
            .filter(|n| *n > 0 && *n <= 100 * 365 * DAY)
            .and_then(Interval::from_nanos)
            .ok_or_else(|| format!("interval {text:?} is out of range (1ms to 100 years)"))
    }

    /// The smallest of the usual widths giving at most `max_buckets` buckets over
    /// `[low, high]` (nanoseconds).
    pub fn auto(low: i64, high: i64, max_buckets: u64) -> Interval {
        let max_buckets = max_buckets.max(1);
        let fits = |interval: Interval| interval.buckets_between(low, high) <= max_buckets;
        if let Some(step) = AUTO_STEPS
            .iter()
            .map(|&nanos| Interval { nanos })
            .find(|i| fits(*i))
        {
            return step;
        }
        let mut interval = Interval {
            nanos: AUTO_STEPS[AUTO_STEPS.len() - 1],
        };
        while !fits(interval) {
            match interval.nanos.checked_mul(2) {
                Some(nanos) => interval = Interval { nanos },
                None => break,
            }
        }
        interval
    }

    /// Width in nanoseconds.
    pub fn nanos(self) -> i64 {
        self.nanos
    }

    fn offset(self) -> i64 {
        if self.nanos % WEEK == 0 {
            MONDAY_OFFSET
        } else {
            0
        }
    }

    /// Number of the bucket holding the instant `nanos`.
    pub fn bucket_of(self, nanos: i64) -> i64 {
        let offset = self.offset();
        // Widened so that instants near i64::MIN cannot overflow.
        (i128::from(nanos) - i128::from(offset)).div_euclid(i128::from(self.nanos)) as i64
    }

    /// First instant (nanoseconds) of bucket `bucket`; saturates outside the `i64` range.
    pub fn bucket_start(self, bucket: i64) -> i64 {
        let start = i128::from(bucket) * i128::from(self.nanos) + i128::from(self.offset());
        start.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// How many buckets cover `[low, high]`.
    pub fn buckets_between(self, low: i64, high: i64) -> u64 {
        if high < low {
            return 0;
        }
        (self.bucket_of(high) - self.bucket_of(low)).unsigned_abs() + 1
    }
}

impl fmt::Display for Interval {
    /// The largest whole unit: `1d`, `12h`, `90s`, `1500ms`, `2w`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, name) in [
            (WEEK, "w"),
            (DAY, "d"),
            (HOUR, "h"),
            (MINUTE, "m"),
            (SECOND, "s"),
            (1_000_000, "ms"),
        ] {
            if self.nanos % unit == 0 {
                return write!(f, "{}{name}", self.nanos / unit);
            }
        }
        write!(f, "{}ns", self.nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn nanos(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
            .timestamp_nanos_opt()
            .unwrap()
    }

    #[test]
    fn parses_and_prints_units() {
        for (text, printed) in [
            ("1m", "1m"),
            ("60m", "1h"),
            ("1h", "1h"),
            ("1d", "1d"),
            ("7d", "1w"),
            ("90s", "90s"),
            ("250ms", "250ms"),
        ] {
            assert_eq!(
                Interval::parse(text).unwrap().to_string(),
                printed,
                "{text}"
            );
        }
        for bad in ["", "h", "1", "1y", "-1h", "0s", "1.5h", "1000000000000000d"] {
            assert!(Interval::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn buckets_are_exact_at_nanosecond_boundaries() {
        let day = Interval::parse("1d").unwrap();
        let midnight = nanos("2018-10-26T00:00:00Z");
        assert_eq!(day.bucket_start(day.bucket_of(midnight)), midnight);
        assert_eq!(day.bucket_of(midnight - 1) + 1, day.bucket_of(midnight));
        assert_eq!(day.bucket_of(midnight + DAY - 1), day.bucket_of(midnight));
        let hour = Interval::parse("1h").unwrap();
        let t = nanos("2018-10-26T13:59:59.999999999Z");
        assert_eq!(
            hour.bucket_start(hour.bucket_of(t)),
            nanos("2018-10-26T13:00:00Z")
        );
        assert_eq!(
            hour.bucket_start(hour.bucket_of(t + 1)),
            nanos("2018-10-26T14:00:00Z")
        );
        assert_eq!(
            day.bucket_start(day.bucket_of(-1)),
            -DAY,
            "before the epoch"
        );
    }

    #[test]
    fn weeks_start_on_monday() {
        let week = Interval::parse("1w").unwrap();
        let thursday = nanos("2024-05-02T10:00:00Z");
        assert_eq!(
            week.bucket_start(week.bucket_of(thursday)),
            nanos("2024-04-29T00:00:00Z")
        );
    }

    #[test]
    fn auto_gives_at_most_the_asked_number_of_buckets() {
        let from = nanos("2024-05-01T00:00:00Z");
        for (span, expected) in [
            (0, "1s"),
            (90 * SECOND, "1s"),
            (HOUR, "1m"),
            (DAY, "30m"),
            (7 * DAY, "3h"),
            (30 * DAY, "12h"),
            (6 * 365 * DAY, "30d"),
        ] {
            let interval = Interval::auto(from, from + span, 100);
            assert_eq!(interval.to_string(), expected, "span {span}");
            assert!(interval.buckets_between(from, from + span) <= 100);
        }
        let huge = Interval::auto(i64::MIN / 2, i64::MAX / 2, 100);
        assert!(huge.buckets_between(i64::MIN / 2, i64::MAX / 2) <= 100);
    }
}
