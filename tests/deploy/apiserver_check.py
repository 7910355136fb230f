"""Checks the apiserver's files in deploy/apiserver/ without an apiserver.

Usage: apiserver_check.py DEPLOY_APISERVER_DIR

- audit-policy.yaml: an audit.k8s.io/v1 Policy whose fields are those of the API
  (k8s.io/apiserver/pkg/apis/audit/v1 types.go), every level valid, and, rule order applied as
  the apiserver applies it (the first match decides), Secrets and token requests never logged
  above Metadata, whatever the verb.
- audit-webhook-kubeconfig.yaml: a kubeconfig with one cluster, user and context, a client
  certificate and key, a CA, and a server on https.
"""

import pathlib
import sys

import yaml

POLICY_FIELDS = {"apiVersion", "kind", "metadata", "rules", "omitStages", "omitManagedFields"}
RULE_FIELDS = {
    "level", "users", "userGroups", "verbs", "resources", "namespaces", "nonResourceURLs",
    "omitStages", "omitManagedFields",
}
GROUP_FIELDS = {"group", "resources", "resourceNames"}
LEVELS = ["None", "Metadata", "Request", "RequestResponse"]
STAGES = {"RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"}
VERBS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
SENSITIVE = [("", "secrets"), ("", "serviceaccounts/token"), ("authentication.k8s.io", "tokenreviews")]


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def check_fields(where: str, value: dict, allowed: set) -> None:
    unknown = set(value) - allowed
    if unknown:
        fail(f"{where}: unknown field(s) {sorted(unknown)}")


def rule_matches(rule: dict, group: str, resource: str, verb: str) -> bool:
    """Whether `rule` matches a request by an ordinary user to `resource` with `verb`."""
    if rule.get("users") or rule.get("userGroups") or rule.get("nonResourceURLs"):
        return False  # scoped to some users, or to non-resource URLs only
    if "verbs" in rule and verb not in rule["verbs"]:
        return False
    if "resources" not in rule:
        return True
    for entry in rule["resources"]:
        if entry.get("group", "") != group:
            continue
        names = entry.get("resources")
        if not names or resource in names or "*" in names:
            return True
    return False


def check_policy(path: pathlib.Path) -> None:
    policy = yaml.safe_load(path.read_text())
    if policy.get("apiVersion") != "audit.k8s.io/v1" or policy.get("kind") != "Policy":
        fail(f"{path}: not an audit.k8s.io/v1 Policy")
    check_fields(str(path), policy, POLICY_FIELDS)
    if not set(policy.get("omitStages", [])) <= STAGES:
        fail(f"{path}: omitStages: unknown stage in {policy['omitStages']}")
    rules = policy.get("rules") or fail(f"{path}: no rules")
    for i, rule in enumerate(rules):
        where = f"{path}: rules[{i}]"
        check_fields(where, rule, RULE_FIELDS)
        if rule.get("level") not in LEVELS:
            fail(f"{where}: level {rule.get('level')!r} is not one of {LEVELS}")
        for j, entry in enumerate(rule.get("resources", [])):
            check_fields(f"{where}.resources[{j}]", entry, GROUP_FIELDS)
    for group, resource in SENSITIVE:
        for verb in VERBS:
            first = next((r for r in rules if rule_matches(r, group, resource, verb)), None)
            level = first["level"] if first else "None"
            if LEVELS.index(level) > LEVELS.index("Metadata"):
                fail(f"{path}: {verb} {group or 'core'}/{resource} is logged at {level}")
    print(f"{path}: {len(rules)} rules; Secrets and tokens at Metadata at most")


def check_kubeconfig(path: pathlib.Path) -> None:
    config = yaml.safe_load(path.read_text())
    if config.get("apiVersion") != "v1" or config.get("kind") != "Config":
        fail(f"{path}: not a v1 Config")
    try:
        (cluster,) = config["clusters"]
        (user,) = config["users"]
        (context,) = config["contexts"]
    except (KeyError, ValueError):
        fail(f"{path}: exactly one cluster, user and context expected")
    if not cluster["cluster"]["server"].startswith("https://"):
        fail(f"{path}: the server must be https")
    for field in ("certificate-authority",):
        cluster["cluster"].get(field) or fail(f"{path}: cluster.{field} missing")
    for field in ("client-certificate", "client-key"):
        user["user"].get(field) or fail(f"{path}: user.{field} missing (mutual TLS)")
    ctx = context["context"]
    if ctx.get("cluster") != cluster["name"] or ctx.get("user") != user["name"]:
        fail(f"{path}: the context does not join the cluster and the user")
    if config.get("current-context") != context["name"]:
        fail(f"{path}: current-context is not {context['name']}")
    print(f"{path}: mutual TLS to {cluster['cluster']['server']}")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    directory = pathlib.Path(sys.argv[1])
    check_policy(directory / "audit-policy.yaml")
    check_kubeconfig(directory / "audit-webhook-kubeconfig.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
