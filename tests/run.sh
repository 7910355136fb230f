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

say "format"
cargo fmt --all -- --check

say "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "tests"
cargo test --workspace --all-targets --locked

say "large tests (release build: 1M events exported in bounded memory)"
cargo build --release --locked --bin kestrel
RELEASE_BINARY="$repo/target/release/kestrel" cargo test --locked --test large -- --ignored

say "all tests passed"
