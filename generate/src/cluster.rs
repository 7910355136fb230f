//! The simulated cluster: nodes, namespaces, workloads, their pods and containers, and the
//! address pools that clients and attackers come from.

use crate::rng::{Rng, Zipf};

/// How a container writes its logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// ingress-nginx controller: extended combined access logs, nginx errors, klog.
    Ingress,
    /// nginx serving the web front end: combined access logs, nginx errors.
    Nginx,
    /// A Go service logging JSON with zap.
    GoJson,
    /// A Spring Boot service (logback console pattern, exceptions with stack traces).
    Java,
    /// A Python web app behind gunicorn (access logs, `logging` lines, tracebacks).
    Python,
    /// A Celery worker.
    Celery,
    /// PostgreSQL.
    Postgres,
    /// Redis.
    Redis,
    /// CoreDNS with the `log` plugin.
    CoreDns,
    /// A Go program logging logfmt (Prometheus and its helpers).
    Logfmt,
}

/// A workload template: namespace, name, replicas, whether it is a StatefulSet, containers
/// (name, image, style).
type Workload = (
    &'static str,
    &'static str,
    u8,
    bool,
    &'static [(&'static str, &'static str, Style)],
);

const WORKLOADS: &[Workload] = &[
    (
        "ingress-nginx",
        "ingress-nginx-controller",
        2,
        false,
        &[(
            "controller",
            "registry.k8s.io/ingress-nginx/controller:v1.10.1",
            Style::Ingress,
        )],
    ),
    (
        "shop",
        "frontend",
        3,
        false,
        &[("nginx", "nginx:1.25.4-alpine", Style::Nginx)],
    ),
    (
        "shop",
        "orders-api",
        3,
        false,
        &[(
            "orders-api",
            "ghcr.io/example/orders-api:2.14.1",
            Style::GoJson,
        )],
    ),
    (
        "shop",
        "cart",
        2,
        false,
        &[("cart", "ghcr.io/example/cart:1.8.0", Style::GoJson)],
    ),
    (
        "shop",
        "catalog",
        2,
        false,
        &[("catalog", "ghcr.io/example/catalog:3.2.7", Style::Java)],
    ),
    (
        "shop",
        "checkout-worker",
        2,
        false,
        &[(
            "worker",
            "ghcr.io/example/checkout-worker:1.4.2",
            Style::Celery,
        )],
    ),
    (
        "payments",
        "payments-api",
        2,
        false,
        &[(
            "payments-api",
            "ghcr.io/example/payments-api:5.0.3",
            Style::Java,
        )],
    ),
    (
        "payments",
        "fraud-scoring",
        2,
        false,
        &[(
            "scorer",
            "ghcr.io/example/fraud-scoring:0.9.12",
            Style::Python,
        )],
    ),
    (
        "auth",
        "auth-service",
        2,
        false,
        &[("auth", "ghcr.io/example/auth-service:1.22.0", Style::GoJson)],
    ),
    (
        "data",
        "postgres",
        1,
        true,
        &[
            ("postgres", "postgres:16.2", Style::Postgres),
            (
                "exporter",
                "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
                Style::Logfmt,
            ),
        ],
    ),
    (
        "data",
        "redis",
        1,
        true,
        &[("redis", "redis:7.2.4", Style::Redis)],
    ),
    (
        "kube-system",
        "coredns",
        2,
        false,
        &[(
            "coredns",
            "registry.k8s.io/coredns/coredns:v1.11.1",
            Style::CoreDns,
        )],
    ),
    (
        "monitoring",
        "prometheus-k8s",
        1,
        true,
        &[
            (
                "prometheus",
                "quay.io/prometheus/prometheus:v2.50.1",
                Style::Logfmt,
            ),
            (
                "config-reloader",
                "quay.io/prometheus-operator/prometheus-config-reloader:v0.72.0",
                Style::Logfmt,
            ),
        ],
    ),
    (
        "backoffice",
        "admin-portal",
        2,
        false,
        &[(
            "web",
            "ghcr.io/example/admin-portal:2024.3.1",
            Style::Python,
        )],
    ),
];

/// Namespaces of the cluster that hold no workload above but appear in audit events.
pub(crate) const OTHER_NAMESPACES: &[&str] = &[
    "default",
    "kube-node-lease",
    "kube-public",
    "cert-manager",
    "argocd",
    "ci",
    "preview-pr-4821",
];

/// Characters of generated Kubernetes name suffixes.
pub(crate) const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A node.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub name: String,
    pub ip: String,
}

/// One container of one pod.
#[derive(Debug, Clone)]
pub(crate) struct Container {
    pub namespace: &'static str,
    pub app: &'static str,
    pub pod: String,
    pub pod_uid: String,
    pub pod_ip: String,
    pub name: &'static str,
    pub image: &'static str,
    pub style: Style,
    /// Docker container id (64 hex digits).
    pub id: String,
}

/// Everything that stays the same through one generation.
#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub nodes: Vec<Node>,
    /// The control-plane node's address.
    pub control_plane_ip: String,
    pub containers: Vec<Container>,
    /// `(namespace, app)` of every workload.
    pub apps: Vec<(&'static str, &'static str)>,
    /// Every namespace.
    pub namespaces: Vec<&'static str>,
    /// Public client addresses of the web front end, sampled with [`Cluster::client_skew`].
    pub public_ips: Vec<String>,
    pub client_skew: Zipf,
    /// Addresses attacks come from.
    pub attacker_ips: Vec<String>,
    /// Product ids, sampled with [`Cluster::product_skew`].
    pub product_skew: Zipf,
    /// Page numbers of listings.
    pub page_skew: Zipf,
}

impl Cluster {
    /// A cluster drawn from `rng`.
    pub fn new(rng: &mut Rng) -> Cluster {
        let zones = ["a", "b", "c"];
        let mut nodes = Vec::new();
        for i in 0..6u64 {
            let third = 1 + i % 3;
            let fourth = rng.range(10, 250);
            nodes.push(Node {
                name: format!(
                    "ip-10-0-{third}-{fourth}.eu-west-1{}.compute.internal",
                    zones[i as usize % 3]
                ),
                ip: format!("10.0.{third}.{fourth}"),
            });
        }
        let mut containers = Vec::new();
        let mut apps = Vec::new();
        let mut namespaces: Vec<&'static str> = Vec::new();
        for &(namespace, app, replicas, stateful, specs) in WORKLOADS {
            apps.push((namespace, app));
            if !namespaces.contains(&namespace) {
                namespaces.push(namespace);
            }
            let mut hash = Vec::new();
            rng.chars(&mut hash, NAME_ALPHABET, 10);
            let hash = String::from_utf8(hash).expect("ascii");
            for replica in 0..replicas {
                let pod = if stateful {
                    format!("{app}-{replica}")
                } else {
                    let mut suffix = Vec::new();
                    rng.chars(&mut suffix, NAME_ALPHABET, 5);
                    format!("{app}-{hash}-{}", String::from_utf8(suffix).expect("ascii"))
                };
                let pod_uid = rng.uuid_string();
                let node = rng.below(nodes.len());
                let pod_ip = format!("10.244.{}.{}", node + 1, rng.range(2, 254));
                for &(name, image, style) in specs {
                    containers.push(Container {
                        namespace,
                        app,
                        pod: pod.clone(),
                        pod_uid: pod_uid.clone(),
                        pod_ip: pod_ip.clone(),
                        name,
                        image,
                        style,
                        id: rng.hex_string(64),
                    });
                }
            }
        }
        namespaces.extend_from_slice(OTHER_NAMESPACES);
        let public_ips = (0..2000).map(|_| public_ip(rng)).collect();
        let attacker_ips = (0..12).map(|_| public_ip(rng)).collect();
        Cluster {
            nodes,
            control_plane_ip: "10.0.0.10".to_owned(),
            containers,
            apps,
            namespaces,
            public_ips,
            client_skew: Zipf::new(2000, 1.0),
            attacker_ips,
            product_skew: Zipf::new(5000, 1.05),
            page_skew: Zipf::new(20, 1.3),
        }
    }

    /// Containers of `style`.
    pub fn with_style(&self, style: Style) -> impl Iterator<Item = &Container> {
        self.containers.iter().filter(move |c| c.style == style)
    }
}

/// A random public IPv4 address (no private, shared, loopback, link-local, documentation,
/// benchmark, multicast or reserved range).
pub(crate) fn public_ip(rng: &mut Rng) -> String {
    loop {
        let n = rng.u64() as u32;
        let [a, b, c, d] = n.to_be_bytes();
        let excluded = matches!(a, 0 | 10 | 127 | 224..=255)
            || (a == 100 && (64..128).contains(&b))
            || (a == 169 && b == 254)
            || (a == 172 && (16..32).contains(&b))
            || (a == 192 && (b == 168 || (b == 0 && c == 2) || (b == 0 && c == 0)))
            || (a == 198 && (b == 18 || b == 19 || (b == 51 && c == 100)))
            || (a == 203 && b == 0 && c == 113)
            || d == 0
            || d == 255;
        if !excluded {
            return format!("{a}.{b}.{c}.{d}");
        }
    }
}

/// Shares of `total` events for `n` streams with Zipf-like skew (exponent 1.1, ranks in a
/// random order), rounded by largest remainder so that they add up to `total` exactly.
pub(crate) fn allocate(rng: &mut Rng, total: u64, n: usize) -> Vec<u64> {
    let mut ranks: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        ranks.swap(i, rng.below(i + 1));
    }
    let weights: Vec<f64> = ranks
        .iter()
        .map(|&rank| 1.0 / ((rank + 1) as f64).powf(1.1))
        .collect();
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| w / sum * total as f64).collect();
    let mut shares: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut left = total - shares.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_adds_up_and_is_skewed() {
        let mut rng = Rng::new(5);
        let shares = allocate(&mut rng, 1_000_003, 30);
        assert_eq!(shares.iter().sum::<u64>(), 1_000_003);
        let max = *shares.iter().max().unwrap();
        let min = *shares.iter().min().unwrap();
        assert!(max > 20 * min, "{shares:?}");
        assert_eq!(allocate(&mut rng, 2, 30).iter().sum::<u64>(), 2);
    }

    #[test]
    fn cluster_has_a_few_dozen_containers() {
        let cluster = Cluster::new(&mut Rng::new(1));
        assert!((25..=40).contains(&cluster.containers.len()));
        assert!(cluster.namespaces.len() >= 8);
        for c in &cluster.containers {
            assert_eq!(c.id.len(), 64);
            assert!(!c.pod.contains('_'));
        }
    }
}
