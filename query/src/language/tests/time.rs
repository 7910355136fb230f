//! Time expressions.

use chrono::{DateTime, TimeZone, Utc};

use crate::language::{parse, parse_time, Query, TimeError};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0)
        .single()
        .expect("valid date")
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .expect("valid date")
}

#[test]
fn relative_forms() {
    let cases = [
        ("now", at(2024, 5, 1, 12, 0, 0)),
        ("now-15m", at(2024, 5, 1, 11, 45, 0)),
        ("now-1h", at(2024, 5, 1, 11, 0, 0)),
        ("now-7d", at(2024, 4, 24, 12, 0, 0)),
        ("now+30s", at(2024, 5, 1, 12, 0, 30)),
        ("now-2w", at(2024, 4, 17, 12, 0, 0)),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_time(text, now()), Ok(expected), "{text}");
    }
}

#[test]
fn absolute_forms() {
    assert_eq!(
        parse_time("2024-01-01T00:00:00Z", now()),
        Ok(at(2024, 1, 1, 0, 0, 0))
    );
    assert_eq!(
        parse_time("2024-01-01T02:30:00+02:30", now()),
        Ok(at(2024, 1, 1, 0, 0, 0))
    );
    assert_eq!(
        parse_time("2023-12-31T19:00:00-05:00", now()),
        Ok(at(2024, 1, 1, 0, 0, 0))
    );
    assert_eq!(parse_time("2024-01-01", now()), Ok(at(2024, 1, 1, 0, 0, 0)));
    let frac = parse_time("2024-01-01T00:00:00.250Z", now()).map(|t| t.timestamp_millis());
    assert_eq!(frac, Ok(at(2024, 1, 1, 0, 0, 0).timestamp_millis() + 250));
}

#[test]
fn invalid_forms() {
    for text in [
        "",
        "now-",
        "now-1",
        "now-h",
        "now-1y",
        "now - 1h",
        "now-1.5h",
        "now*2",
        "nowish",
        "yesterday",
        "2024-13-01",
        "2024-01-01T25:00:00Z",
        "now-1H",
    ] {
        assert_eq!(
            parse_time(text, now()),
            Err(TimeError::Invalid(text.to_string())),
            "{text:?}"
        );
    }
    assert!(matches!(
        parse_time("now-99999999999999999999d", now()),
        Err(TimeError::OutOfRange(_))
    ));
    assert!(matches!(
        parse_time("now+9999999w", now()),
        Err(TimeError::OutOfRange(_))
    ));
}

#[test]
fn resolve_times_in_the_tree() {
    let q = parse("@timestamp:[now-1h TO now] OR (x -@timestamp:<now-7d) OR code:[1 TO 2]")
        .expect("parses")
        .resolve_times(now())
        .expect("resolves");
    let expected = parse(
        "@timestamp:[2024-05-01T11:00:00Z TO 2024-05-01T12:00:00Z] \
         OR (x -@timestamp:<2024-04-24T12:00:00Z) OR code:[1 TO 2]",
    )
    .expect("parses");
    assert_eq!(q, expected);
    let far = parse("@timestamp:>now-500000w").expect("parses");
    let ancient = Utc
        .with_ymd_and_hms(-260_000, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    assert!(matches!(
        far.resolve_times(ancient),
        Err(TimeError::OutOfRange(_))
    ));
    let _: Query = far;
}
