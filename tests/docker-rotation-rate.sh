#!/usr/bin/env bash
# Measures how much of a container's output `kestrel run` keeps when Docker rotates its log
# fast: for each max-size, a busybox container writes LINES lines as fast as it can into a
# json-file log with max-file=3, and the lines indexed are counted.
#
# Usage: DOCKER_HOST=unix:///path/docker.sock bash tests/docker-rotation-rate.sh [KESTREL_BINARY]
# Needs a running Docker daemon (tests/run.sh shows how to start one) and `curl`; builds and
# uses the release binary unless one is given.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="${1:-}"
if [ -z "$binary" ]; then
  (cd "$repo" && cargo build --release --locked --bin kestrel)
  binary="$repo/target/release/kestrel"
fi
lines="${LINES_PER_RUN:-100000}"
sizes="${MAX_SIZES:-64k 128k 256k}"
poll="${POLL_INTERVAL:-2s}"
image=kestrel-rotation-busybox
root="$(docker info --format '{{.DockerRootDir}}')"
work="$(mktemp -d /tmp/kestrel-rotation.XXXXXX)"
port=18990
kestrel_pid=""
cleanup() {
  [ -n "$kestrel_pid" ] && kill "$kestrel_pid" 2>/dev/null || true
  docker ps -aq --filter "ancestor=$image" | xargs -r docker rm -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if ! docker image inspect "$image" >/dev/null 2>&1; then
  mkdir -p "$work/rootfs/bin"
  cp /bin/busybox "$work/rootfs/bin/"
  ln -s busybox "$work/rootfs/bin/sh"
  tar -C "$work/rootfs" -c . | docker import - "$image" >/dev/null
fi

echo "| max-size × 3 | lines written | in | lines indexed |"
echo "|---|---|---|---|"
for size in $sizes; do
  rm -rf "$work/data"
  cat >"$work/kestrel.toml" <<EOF
data_dir = "$work/data"
[collector]
poll_interval = "$poll"
[collector.docker]
enabled = true
host = "${DOCKER_HOST:-unix:///var/run/docker.sock}"
[[collector.sources]]
name = "docker"
paths = ["$root/containers/*/*-json.log*"]
format = "docker"
[query]
listen = "127.0.0.1:$port"
EOF
  RUST_LOG=warn "$binary" --config "$work/kestrel.toml" run >"$work/run.log" 2>&1 &
  kestrel_pid=$!
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  id=$(docker run -d --network none --log-opt "max-size=$size" --log-opt max-file=3 "$image" \
    sh -c "sleep 1; i=0; while [ \$i -lt $lines ]; do i=\$((i+1)); echo \"rotation line \$i\"; done")
  started=$(date +%s.%N)
  docker wait "$id" >/dev/null
  took=$(echo "$(date +%s.%N) - $started - 1" | bc)
  indexed=0
  for _ in $(seq 1 60); do
    sleep 1
    now=$(curl -s "127.0.0.1:$port/api/v1/search?q=container.id:$id&limit=0" \
      | grep -o '"total":[0-9]*' | cut -d: -f2)
    [ "$now" = "$indexed" ] && break
    indexed=$now
  done
  printf '| %s | %s | %.2f s | %s |\n' "$size" "$lines" "$took" "$indexed"
  kill "$kestrel_pid"
  wait "$kestrel_pid" 2>/dev/null || true
  kestrel_pid=""
  docker rm -f "$id" >/dev/null
done
