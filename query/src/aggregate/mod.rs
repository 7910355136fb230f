//! Aggregations over the events matching a query in a time range: counts per value, per time
//! interval, distinct counts and numeric statistics — `POST /api/v1/aggregate` and
//! `kestrel aggregate`.
//!
//! # Request
//!
//! ```json
//! {"q": "objectRef.resource:secrets", "from": "now-1d", "to": "now",
//!  "aggs": {"<name>": <aggregation>, ...}}
//! ```
//!
//! `q`, `from` and `to` are those of a search (all optional). Each aggregation is an object with
//! one kind and, for bucket kinds, optional sub-aggregations (one level deep):
//!
//! | Kind | Body | Result |
//! |---|---|---|
//! | `terms` | `{"field": F, "size": 10, "shard_size": N}` + `"aggs"` | `{"buckets": [{"key", "count", "aggs"?}], "other_count"}` |
//! | `date_histogram` | `{"field": "@timestamp", "interval": "auto"\|"1m"\|"1h"\|"1d", "min_count": 0}` + `"aggs"` | `{"interval", "buckets": [{"key": RFC 3339, "count", "aggs"?}]}` |
//! | `cardinality` | `{"field": F}` | `{"value"}` (approximate) |
//! | `min`, `max`, `avg`, `sum` | `{"field": F}` | `{"value"}` |
//! | `stats` | `{"field": F}` | `{"count", "min", "max", "avg", "sum"}` |
//! | `percentiles` | `{"field": F, "percents": [50, 95, 99]}` | `{"values": [{"percent", "value"}]}` (approximate) |
//! | `count` | `{}` | `{"value"}`: matching events (in the bucket) |
//!
//! Fields are dotted event paths with a fast (columnar) copy: keywords and numbers for `terms`
//! and `cardinality`, timestamps for `date_histogram`, numbers (and timestamps for `min`/`max`)
//! for the metrics. Anything else is refused, naming the field and the fields allowed.
//!
//! * `terms` counts are exact: every value of every partition is kept until the final merge
//!   (within the memory limit). `other_count` is the number of values of matching events left
//!   out of the buckets. With `shard_size`, each index segment keeps only its top `shard_size`
//!   values: less memory, approximate counts, and an `error_upper_bound`.
//! * `date_histogram` buckets are aligned to multiples of the interval since the epoch (UTC
//!   midnight for days, Mondays for weeks) and computed on integer nanoseconds, so events a
//!   nanosecond before a boundary stay in the earlier bucket. `auto` picks the smallest of 1s, 5s,
//!   10s, 30s, 1m, 5m, 10m, 30m, 1h, 3h, 6h, 12h, 1d, 1w, 30d, 90d, 365d giving at most 100
//!   buckets over `[from, to]` (an open end is the earliest/latest matching event). Empty
//!   buckets are included (`min_count: 0`) across that span.
//! * `cardinality` is a HyperLogLog estimate (about 2% relative error; practically exact below
//!   about 200 distinct values).
//!   `percentiles` are a DDSketch estimate (about 1% relative error).
//! * `min`/`max` of a timestamp field are RFC 3339 instants, to the microsecond.
//!
//! # Limits
//!
//! [`AggregationLimits`]: the estimated memory of the collectors plus the results merged so far
//! stays under `memory_limit_bytes` (default 256 MiB), and a response holds at most
//! `max_buckets` buckets (default 10 000, sub-aggregation buckets included). Beyond either,
//! the request fails with [`SearchError::AggregationLimit`](crate::SearchError) (HTTP 422)
//! rather than the process running out of memory.

mod interval;
mod limits;
mod plan;
mod request;
mod response;
mod run;
mod time_buckets;

pub use interval::Interval;
pub use limits::{
    human_bytes, AggregationLimits, DEFAULT_AUTO_BUCKETS, DEFAULT_MAX_BUCKETS, DEFAULT_MEMORY_LIMIT,
};
pub use request::{
    AggField, AggregateParams, AggregateRequest, Aggregation, IntervalSpec, Metric,
    NamedAggregation, DEFAULT_PERCENTS, DEFAULT_TERMS_SIZE,
};
pub use response::{
    AggregateResponse, AggregationResult, Bucket, BucketKey, MetricValue, NamedResults,
    PercentileValue,
};
