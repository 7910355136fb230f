//! Deserialization helpers: durations, socket addresses, Kafka properties.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// `Duration` written as a humantime string: `"250ms"`, `"5s"`, `"1h 30m"`.
pub mod duration {
    use super::*;
    use std::time::Duration;

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration string such as \"250ms\", \"5s\" or \"1h 30m\"")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Duration, E> {
            humantime::parse_duration(s.trim()).map_err(|e| {
                E::custom(format_args!(
                    "invalid duration {s:?}: {e} (expected e.g. \"250ms\", \"5s\" or \"1h 30m\")"
                ))
            })
        }
    }

    /// Deserializes a humantime duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }

    #[derive(Deserialize)]
    #[serde(transparent)]
    pub(crate) struct Wrapped(#[serde(deserialize_with = "deserialize")] pub(crate) Duration);
}

/// `Option<Duration>`: absent means `None`, otherwise a humantime string.
pub mod option_duration {
    use super::*;
    use std::time::Duration;

    /// Deserializes an optional humantime duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<duration::Wrapped>::deserialize(d)?.map(|w| w.0))
    }
}

/// A `SocketAddr` whose error message quotes the rejected text.
pub fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.trim().parse().map_err(|_| {
        de::Error::custom(format_args!(
            "invalid socket address {text:?} (expected IP:PORT such as 127.0.0.1:7700 or [::1]:7700)"
        ))
    })
}

/// An optional `SocketAddr` (see [`socket_addr`]).
pub fn optional_socket_addr<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<SocketAddr>, D::Error> {
    socket_addr(d).map(Some)
}

/// A leaf or a table in the Kafka properties.
enum PropertyValue {
    Leaf(String),
    Table(BTreeMap<String, PropertyValue>),
}

impl<'de> Deserialize<'de> for PropertyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;

        impl<'de> Visitor<'de> for V {
            type Value = PropertyValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Leaf(v.to_owned()))
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Leaf(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Leaf(v.to_string()))
            }

            fn visit_i128<E: de::Error>(self, v: i128) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Leaf(v.to_string()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Leaf(v.to_string()))
            }

            fn visit_u128<E: de::Error>(self, v: u128) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Leaf(v.to_string()))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PropertyValue, E> {
                Ok(PropertyValue::Leaf(v.to_string()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PropertyValue, A::Error> {
                let mut table = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, PropertyValue>()? {
                    table.insert(k, v);
                }
                Ok(PropertyValue::Table(table))
            }
        }

        d.deserialize_any(V)
    }
}

fn flatten(
    prefix: &str,
    table: BTreeMap<String, PropertyValue>,
    out: &mut BTreeMap<String, String>,
) {
    for (key, value) in table {
        let key = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            PropertyValue::Leaf(v) => {
                out.insert(key, v);
            }
            PropertyValue::Table(t) => flatten(&key, t, out),
        }
    }
}

/// librdkafka properties: a table whose nested tables are flattened into
/// dotted names and whose scalar values are turned into strings.
pub fn properties<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let table = BTreeMap::<String, PropertyValue>::deserialize(d)?;
    let mut out = BTreeMap::new();
    flatten("", table, &mut out);
    Ok(out)
}
