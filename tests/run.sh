#!/usr/bin/env bash
# Runs every test of Kestrel on this machine: installs what the tests need when it is missing,
# starts the services they use on 127.0.0.1, runs the checks and the tests, stops the services.
# Usage: bash tests/run.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

say() { printf '\n== %s\n' "$*"; }

corpus="$repo/../shared/corpus"
if [ ! -f "$corpus/MANIFEST.tsv" ]; then
  echo "error: the test corpus is missing at $corpus (it must sit next to the repository)" >&2
  exit 1
fi

command -v cargo >/dev/null || { echo "error: cargo is required" >&2; exit 1; }
# A one-off build needs no incremental cache (it only costs disk); the free space is printed
# because a full test build takes a few GB.
export CARGO_INCREMENTAL=0
df -h "$repo" | tail -1
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

# The Kafka tests start their own brokers (they kill and restart them): Tansu, an Apache
# Kafka-compatible broker, built from the crate registry once (several minutes) and reused.
tansu="${TANSU_BINARY:-$(command -v tansu || echo "$HOME/.cargo/bin/tansu")}"
if [ ! -x "$tansu" ]; then
  say "installing the Tansu broker (cargo install tansu)"
  cargo install tansu --locked --features dynostore,libsql
  tansu="$HOME/.cargo/bin/tansu"
fi
export TANSU_BINARY="$tansu"
"$tansu" --version

# The Docker tests (tests/docker.rs) run busybox containers on a real Docker daemon: one of
# its own, with its data root, socket and state under a temporary directory, no bridge and no
# iptables (containers run with --network none). Stopped when this script exits.
# The deployment checks (tests/deploy/check.sh) need promtool (Debian's prometheus package) and
# a Python with venv for their pinned scanners; the image test needs openssl and curl.
if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null \
  || ! dpkg -s busybox-static >/dev/null 2>&1 || ! command -v promtool >/dev/null \
  || ! python3 -c 'import ensurepip' 2>/dev/null || ! command -v openssl >/dev/null \
  || ! command -v curl >/dev/null; then
  say "installing Docker, a static busybox, promtool, python3-venv, openssl and curl (apt-get)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    docker.io busybox-static prometheus python3-venv openssl curl
fi
docker_dir="$(mktemp -d /tmp/kestrel-dockerd.XXXXXX)"
stop_dockerd() {
  if [ -f "$docker_dir/dockerd.pid" ]; then
    local pid
    pid="$(cat "$docker_dir/dockerd.pid")"
    # Containers the tests left behind go first, then the daemon (it stops its containerd).
    docker ps -aq 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1 || true
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$docker_dir" 2>/dev/null || true
}
trap stop_dockerd EXIT
say "starting dockerd (data root $docker_dir/data)"
dockerd --iptables=false --ip6tables=false --bridge=none \
  --data-root "$docker_dir/data" --exec-root "$docker_dir/exec" \
  --pidfile "$docker_dir/dockerd.pid" --host "unix://$docker_dir/docker.sock" \
  >"$docker_dir/dockerd.log" 2>&1 &
export DOCKER_HOST="unix://$docker_dir/docker.sock"
for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
if ! docker info >/dev/null 2>&1; then
  echo "error: dockerd did not start; its log:" >&2
  tail -50 "$docker_dir/dockerd.log" >&2
  exit 1
fi
docker version --format 'docker {{.Server.Version}} (api {{.Server.APIVersion}})'

say "format"
cargo fmt --all -- --check

say "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "tests"
cargo test --workspace --all-targets --locked

say "fuzzing, a short run of every target (fuzz/run.sh; longer runs: README.md, Hardening)"
bash fuzz/run.sh 5

say "deployment checks (manifests, Pod Security, scanners, alerting rules, configurations)"
bash tests/deploy/check.sh "$repo/target/debug/kestrel"

say "large tests (release build: 1M events exported in bounded memory)"
# Without line tables: the release build is only run here, and debug info costs disk.
CARGO_PROFILE_RELEASE_DEBUG=false cargo build --release --locked --bin kestrel
RELEASE_BINARY="$repo/target/release/kestrel" cargo test --locked --test large -- --ignored

say "the image, run hardened under Docker (tests/deploy/image.sh)"
RELEASE_BINARY="$repo/target/release/kestrel" bash tests/deploy/image.sh

say "all tests passed"
