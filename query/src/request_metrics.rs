//! The API's request latency histogram, [`REQUEST_DURATION`], labelled by route pattern
//! (`route`, as matched, never the raw URI) and status class (`status`: `2xx`, `4xx`...).
//!
//! Handles are looked up once per route and class and kept, so recording a request costs no
//! allocation: a scan of the few route patterns and an atomic push.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics::Histogram;

/// Seconds from a request's arrival to its response head (streamed bodies, as `/api/v1/export`
/// sends, continue after it).
pub const REQUEST_DURATION: &str = "kestrel_query_request_duration_seconds";

/// The `status` label values, by the first digit of the status code minus one.
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One histogram handle per route pattern and status class, created at first use.
#[derive(Debug)]
pub(crate) struct RequestMetrics {
    routes: &'static [&'static str],
    handles: Box<[[OnceLock<Histogram>; STATUS_CLASSES.len()]]>,
}

impl RequestMetrics {
    /// Handles for `routes` (the router's patterns); each route's `2xx` series is registered
    /// now, so that it is exported before the first request.
    pub(crate) fn new(routes: &'static [&'static str]) -> RequestMetrics {
        let metrics = RequestMetrics {
            routes,
            handles: routes
                .iter()
                .map(|_| std::array::from_fn(|_| OnceLock::new()))
                .collect(),
        };
        for route in 0..routes.len() {
            metrics.handle(route, 1);
        }
        metrics
    }

    /// Records one request of `route` (a pattern, as matched) answered with `status`; routes
    /// not in the list are not recorded.
    pub(crate) fn record(&self, route: &str, status: u16, seconds: f64) {
        let Some(index) = self.routes.iter().position(|known| *known == route) else {
            return;
        };
        let class = usize::from(status / 100).clamp(1, STATUS_CLASSES.len()) - 1;
        self.handle(index, class).record(seconds);
    }

    fn handle(&self, route: usize, class: usize) -> &Histogram {
        self.handles[route][class].get_or_init(|| {
            metrics::histogram!(
                REQUEST_DURATION,
                "route" => self.routes[route],
                "status" => STATUS_CLASSES[class]
            )
        })
    }
}

/// Middleware (a route layer, where the matched path is known) timing each request.
pub(crate) async fn measure(
    State(metrics): State<Arc<RequestMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    // `MatchedPath` holds an `Arc<str>`: cloning it does not allocate.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    if let Some(route) = route {
        metrics.record(
            route.as_str(),
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_their_class_and_unknown_routes_are_ignored() {
        let metrics = RequestMetrics::new(&["/a", "/b"]);
        // Without a recorder the handles are no-ops: this checks indexing only.
        for status in [100, 200, 204, 302, 404, 500, 599, 0, 999] {
            metrics.record("/b", status, 0.1);
        }
        metrics.record("/unknown", 200, 0.1);
        assert!(metrics.handles[1][1].get().is_some());
        assert!(metrics.handles[1][4].get().is_some());
        assert!(metrics.handles[0][3].get().is_none());
    }
}
