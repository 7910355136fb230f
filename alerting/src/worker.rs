//! The delivery worker: sends what is due, in order, and reschedules failures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use kestrel_config::DestinationConfig;
use serde_json::Value;

use crate::error::AlertingError;
use crate::outbox::{Delivery, Outbox};
use crate::payload::{build, wanted};

/// Longest delay between two attempts.
const MAX_DELAY: Duration = Duration::from_secs(3600);
/// How often the worker looks for due deliveries.
const TICK: Duration = Duration::from_millis(200);

/// The configured destinations.
#[derive(Debug, Clone, Default)]
pub struct Destinations(pub Vec<DestinationConfig>);

impl Destinations {
    /// Queues a new alert for every destination whose level it reaches.
    pub fn enqueue(&self, outbox: &Outbox, alert: &Value) -> Result<(), AlertingError> {
        let now = now_ms();
        for destination in self.0.iter().filter(|d| wanted(d, alert)) {
            outbox.enqueue(alert, &destination.name, now)?;
        }
        Ok(())
    }

    fn get(&self, name: &str) -> Option<&DestinationConfig> {
        self.0.iter().find(|d| d.name == name)
    }
}

/// What one attempt gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx.
    Delivered,
    /// Worth retrying (timeout, connection error, 408, 429, 5xx), after at least `after` when
    /// the receiver said so.
    Retry {
        /// Why.
        error: String,
        /// `Retry-After`.
        after: Option<Duration>,
    },
    /// Retrying cannot help (other 4xx, 410 Gone, bad template).
    Failed(String),
}

/// Runs until `stop` is set: every due delivery is attempted; failures are retried with
/// exponential backoff and jitter (or after `Retry-After`) until their destination's
/// `max_attempts`, then moved to the dead-letter list. Blocking: run it on its own thread.
pub fn run_worker(outbox: Outbox, destinations: Destinations, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        if let Err(error) = deliver_due(&outbox, &destinations) {
            tracing::error!(%error, "alert delivery");
        }
        std::thread::sleep(TICK);
    }
}

/// Attempts every delivery due now, once.
pub fn deliver_due(outbox: &Outbox, destinations: &Destinations) -> Result<(), AlertingError> {
    let now = now_ms();
    for mut delivery in outbox.pending()? {
        if delivery.next_at_ms > now {
            break;
        }
        let Some(destination) = destinations.get(&delivery.destination) else {
            delivery.last_error = Some("destination no longer configured".into());
            outbox.bury(&delivery)?;
            continue;
        };
        let outcome = attempt(destination, &delivery);
        delivery.attempts += 1;
        let name = destination.name.clone();
        match outcome {
            Attempt::Delivered => {
                metrics::counter!("kestrel_alerts_delivered_total", "destination" => name)
                    .increment(1);
                tracing::info!(delivery = %delivery.id, attempts = delivery.attempts, "alert delivered");
                outbox.delivered(&delivery)?;
            }
            Attempt::Retry { error, after } if delivery.attempts < destination.max_attempts => {
                let delay = backoff(destination.retry_initial, delivery.attempts)
                    .max(after.unwrap_or_default());
                tracing::warn!(delivery = %delivery.id, attempts = delivery.attempts, %error, retry_in_ms = delay.as_millis() as u64, "alert delivery failed; will retry");
                metrics::counter!("kestrel_alerts_delivery_retries_total", "destination" => name)
                    .increment(1);
                delivery.last_error = Some(error);
                delivery.next_at_ms = now_ms() + delay.as_millis() as i64;
                outbox.save(&delivery)?;
            }
            Attempt::Retry { error, .. } | Attempt::Failed(error) => {
                tracing::error!(delivery = %delivery.id, attempts = delivery.attempts, %error, "alert delivery abandoned; kept in the dead-letter list");
                metrics::counter!("kestrel_alerts_dead_letters_total", "destination" => name)
                    .increment(1);
                delivery.last_error = Some(error);
                outbox.bury(&delivery)?;
            }
        }
    }
    Ok(())
}

/// The delay before attempt `attempts + 1`: `initial`, doubling, with jitter, at most an hour.
pub fn backoff(initial: Duration, attempts: u32) -> Duration {
    ExponentialBuilder::default()
        .with_min_delay(initial)
        .with_max_delay(MAX_DELAY)
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(attempts as usize + 1)
        .build()
        .nth(attempts.saturating_sub(1) as usize)
        .unwrap_or(MAX_DELAY)
}

fn attempt(destination: &DestinationConfig, delivery: &Delivery) -> Attempt {
    let request = match build(destination, &delivery.id, &delivery.alert, now_ms() / 1000) {
        Ok(request) => request,
        Err(error) => return Attempt::Failed(error.to_string()),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(destination.timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut call = agent.post(&destination.url);
    for (name, value) in &request.headers {
        call = call.header(name.as_str(), value.as_str());
    }
    let response = match call.send(&request.body[..]) {
        Ok(response) => response,
        Err(error) => {
            return Attempt::Retry {
                error: error.to_string(),
                after: None,
            }
        }
    };
    let status = response.status().as_u16();
    let after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    match status {
        200..=299 => Attempt::Delivered,
        408 | 429 | 500..=599 => Attempt::Retry {
            error: format!("HTTP {status}"),
            after,
        },
        other => Attempt::Failed(format!("HTTP {other}")),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let initial = Duration::from_secs(1);
        for attempts in 1..6u32 {
            let base = initial * 2u32.pow(attempts - 1);
            let delay = backoff(initial, attempts);
            assert!(
                delay >= base && delay <= base * 2,
                "attempt {attempts}: {delay:?}"
            );
        }
        assert!(backoff(initial, 40) <= MAX_DELAY * 2);
    }
}
