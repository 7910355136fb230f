#!/usr/bin/env bash
# Runs the fuzz targets (cargo-fuzz: libFuzzer, coverage-guided, on stable Rust with
# --sanitizer none) from seeds: fuzz/seeds/<target>/ and files of ../shared/corpus.
# Usage: bash fuzz/run.sh SECONDS_PER_TARGET [TARGET...]   (default: every target)
#        FUZZ_RUNS=10000000 bash fuzz/run.sh 7200 TARGET   (stops at that many executions)
#        FUZZ_TIMEOUT=60: seconds (wall clock) one input may take before it counts as a hang;
#        raise it when the fuzzer runs at a low priority beside other work (default 10)
# Prints one line per target: executions, corpus size, result. A crash leaves its input in
# fuzz/artifacts/<target>/ and makes the script fail.
set -euo pipefail

fuzz="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$fuzz/.." && pwd)"
corpus="$repo/../shared/corpus"
seconds="${1:?usage: bash fuzz/run.sh SECONDS_PER_TARGET [TARGET...]}"
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(docker_json_file cri audit_json_lines falco_json es_bulk otlp_json otlp_protobuf
    forward_frames query_parser sigma_rules audit_webhook config_loader)
fi

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
export CARGO_TARGET_DIR="$fuzz/target"
cd "$repo"
cargo fuzz build --sanitizer none -O

# Seed files of the shared corpus, per target (paths relative to the corpus).
corpus_seeds() {
  case "$1" in
    docker_json_file) echo beats_docker_json/docker_corrupted.log
      find "$corpus/fluent_bit_container_logs" -name '*_json.log' -printf '%P\n' \
        | sed 's|^|fluent_bit_container_logs/|' | head -5 ;;
    cri) find "$corpus/fluent_bit_container_logs" -name '*.log' ! -name '*_json.log' -printf '%P\n' \
        | sed 's|^|fluent_bit_container_logs/|' | head -5 ;;
    audit_json_lines|audit_webhook) echo audit2rbac/demo.log
      echo kube_audit_rest_admissionreview/kube-audit-rest.log
      ls "$corpus/falco_k8s_audit_traces" | grep '\.json$' | head -20 \
        | sed 's|^|falco_k8s_audit_traces/|' ;;
    sigma_rules) ls "$repo/rules/kubernetes" | head -20 | sed "s|^|$repo/rules/kubernetes/|" ;;
    config_loader) ls "$repo"/deploy/kubernetes/*/*.toml ;;
  esac
}

status=0
for target in "${targets[@]}"; do
  work="$fuzz/corpus/$target"
  seeds="$fuzz/corpus/$target.seeds"
  mkdir -p "$work" "$seeds" "$fuzz/artifacts/$target"
  [ -d "$fuzz/seeds/$target" ] && cp "$fuzz/seeds/$target"/* "$seeds/" 2>/dev/null || true
  while read -r file; do
    [ -n "$file" ] || continue
    case "$file" in /*) src="$file" ;; *) src="$corpus/$file" ;; esac
    # Large files are cut into 16 KiB pieces at line ends: many small seeds.
    [ -f "$src" ] && split -C 16384 -d -a 4 "$src" "$seeds/$(basename "$file")."
  done < <(corpus_seeds "$target")
  # The webhook takes whole EventLists: the audit lines of the seeds, wrapped.
  if [ "$target" = audit_webhook ]; then
    for f in "$seeds"/*; do
      python3 -c 'import json,sys
items=[]
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try: items.append(json.loads(line))
    except Exception: pass
json.dump({"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":items}, open(sys.argv[1]+".list","w"))' "$f" || true
    done
  fi
  log="$fuzz/artifacts/$target/last-run.log"
  if cargo fuzz run --sanitizer none -O "$target" "$work" "$seeds" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 \
    ${FUZZ_RUNS:+-runs="$FUZZ_RUNS"} \
    -print_final_stats=1 -artifact_prefix="$fuzz/artifacts/$target/" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see $log)"
    status=1
  fi
  runs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || echo '?')"
  size="$(ls "$work" | wc -l)"
  printf '%-18s %12s executions %6s corpus entries  %s\n' "$target" "$runs" "$size" "$result"
done
exit $status
