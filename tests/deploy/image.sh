#!/usr/bin/env bash
# The production image, run hardened under a real Docker daemon.
#
# Builds `kestrel:test` from deploy/rootfs.sh's root filesystem with `docker import`, taking
# USER/ENV/EXPOSE/ENTRYPOINT/CMD/LABEL (and COPY --chown owners) from the final stage of
# deploy/Dockerfile, so the tested image cannot drift from it. Then:
#   1. a busybox container (--network none, json-file log driver) writes LINES lines;
#   2. `kestrel --config /etc/kestrel/kestrel.toml run` with the single-node configuration
#      (deploy/kubernetes/single-node/kestrel.toml), TLS and a token file mounted read-only,
#      under the node pods' security context: --read-only, --user 0:65532, --cap-drop ALL,
#      no-new-privileges, 1 GB / 1 CPU / 256 pids, no tmpfs; the HTTPS search over the
#      busybox container's id must return exactly LINES;
#   3. nothing written outside the data volume: `docker diff` empty, no EROFS or permission
#      error in its logs;
#   4. `kestrel query` as 65532:65532 over the same data directory mounted read-only answers the
#      same count;
#   5. the collector as 65532:65532 cannot read the node's log files (0640 root, in 0710 root
#      directories): it finds none of the lines and logs a permission error.
#
# Inputs: RELEASE_BINARY (a release build of kestrel) and DOCKER_HOST (a daemon on this
# machine: its containers directory and this script's temporary directories are bind-mounted).
# Fails, never skips, when either is unusable. Runs as root (the data directory must belong to
# the container's UID 0, which holds no capability to override file permissions).
#
# Usage: RELEASE_BINARY=target/release/kestrel DOCKER_HOST=unix:///... bash tests/deploy/image.sh
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dockerfile="$repo/deploy/Dockerfile"
single_node_config="$repo/deploy/kubernetes/single-node/kestrel.toml"
lines="${LINES_WRITTEN:-1000}"
wait_seconds="${WAIT_SECONDS:-120}"

say() { printf '== %s\n' "$*"; }
fail() {
  printf 'image.sh: FAIL: %s\n' "$*" >&2
  exit 1
}

# ---- inputs -------------------------------------------------------------------------------
[ -n "${RELEASE_BINARY:-}" ] || fail "RELEASE_BINARY is not set (a release build of kestrel: \
CARGO_PROFILE_RELEASE_DEBUG=false cargo build --release --locked --bin kestrel)"
[ -f "$RELEASE_BINARY" ] && [ -x "$RELEASE_BINARY" ] \
  || fail "RELEASE_BINARY=$RELEASE_BINARY is not an executable file"
"$RELEASE_BINARY" --version >/dev/null 2>&1 || fail "RELEASE_BINARY=$RELEASE_BINARY does not run"
[ -n "${DOCKER_HOST:-}" ] || fail "DOCKER_HOST is not set (it must point at a running daemon)"
for tool in docker openssl curl tar; do
  command -v "$tool" >/dev/null || fail "$tool is required"
done
[ -x /bin/busybox ] || fail "a static /bin/busybox is required (apt-get install busybox-static)"
[ "$(id -u)" = 0 ] || fail "run as root: the data directory is written by the container's \
UID 0 without CAP_DAC_OVERRIDE, so it must belong to root"
docker info >/dev/null 2>&1 || fail "no Docker daemon answers at DOCKER_HOST=$DOCKER_HOST: \
$(docker info 2>&1 | tail -3)"
docker_root="$(docker info --format '{{.DockerRootDir}}')"
containers_dir="$docker_root/containers"
[ -d "$containers_dir" ] || fail "the daemon's containers directory $containers_dir is not on \
this machine (DOCKER_HOST must be a local daemon)"
[ -f "$single_node_config" ] || fail "$single_node_config is missing"

# ---- state and cleanup --------------------------------------------------------------------
run_id="$$-$(openssl rand -hex 3)"
image="kestrel:test"
busybox_image="kestrel-image-test-busybox:$run_id"
work="$(mktemp -d /tmp/kestrel-image-test.XXXXXX)"
containers=()
images=()
cleanup() {
  local status=$?
  if [ "${#containers[@]}" -gt 0 ]; then
    docker rm -f "${containers[@]}" >/dev/null 2>&1 || true
  fi
  if [ "${#images[@]}" -gt 0 ]; then
    docker rmi -f "${images[@]}" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Sets the variable named $1 to a free TCP port on 127.0.0.1 (nothing answers a connection to
# it), not already chosen.
chosen_ports=" "
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    case "$chosen_ports" in *" $port "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      chosen_ports="$chosen_ports$port "
      printf -v "$1" '%s' "$port"
      return
    fi
  done
  fail "no free port found"
}

now_ms() { date +%s%3N; }

# Prints a container's last log lines and state (for failure messages).
container_report() {
  local name="$1"
  echo "--- $name: $(docker inspect --format \
    'status={{.State.Status}} exit={{.State.ExitCode}} oom={{.State.OOMKilled}} error={{.State.Error}}' \
    "$name" 2>&1)"
  echo "--- $name: its last 200 log lines, timestamps dropped, repeats counted"
  docker logs --tail 200 "$name" 2>&1 | sed -E 's/^[0-9]{4}-[0-9-]+T[0-9:.]+Z +//' \
    | uniq -c | tail -40 | cut -c1-600 || true
}

# ---- the image ----------------------------------------------------------------------------
# The final stage of the Dockerfile as logical lines: continuations joined, comments and blank
# lines dropped, everything after the last FROM.
final_stage() {
  awk '
    /^[[:space:]]*#/ { next }
    {
      line = $0
      if (sub(/\\[[:space:]]*$/, "", line)) { logical = logical line " "; next }
      logical = logical line
      if (logical ~ /^[[:space:]]*$/) { logical = ""; next }
      sub(/^[[:space:]]+/, "", logical)
      if (toupper(logical) ~ /^FROM[[:space:]]/) { n = 0 }
      else { stage[++n] = logical }
      logical = ""
    }
    END { for (i = 1; i <= n; i++) print stage[i] }
  ' "$1"
}

say "image: deploy/rootfs.sh $RELEASE_BINARY, then docker import with the final stage of deploy/Dockerfile"
rootfs="$work/rootfs"
"$repo/deploy/rootfs.sh" "$RELEASE_BINARY" "$rootfs"

changes=()
owned=() # "PATH UID:GID" from COPY --chown lines
while IFS= read -r instruction; do
  keyword="$(printf '%s' "$instruction" | awk '{print toupper($1)}')"
  case "$keyword" in
    USER | ENV | EXPOSE | ENTRYPOINT | CMD | LABEL)
      changes+=(--change "$instruction")
      ;;
    COPY)
      # COPY --from=build [--chown=U:G] /rootfs[/PATH] /[PATH]: the staged root filesystem.
      read -r -a words <<<"$instruction"
      chown="" from="" args=()
      for word in "${words[@]:1}"; do
        case "$word" in
          --from=*) from="${word#--from=}" ;;
          --chown=*) chown="${word#--chown=}" ;;
          --*) fail "deploy/Dockerfile final stage: unsupported COPY option $word" ;;
          *) args+=("$word") ;;
        esac
      done
      [ -n "$from" ] && [ "${#args[@]}" -eq 2 ] \
        || fail "deploy/Dockerfile final stage: a COPY this test cannot reproduce: $instruction"
      src="${args[0]}" dst="${args[1]}"
      case "$src" in
        /rootfs | /rootfs/) [ "$dst" = / ] || fail "deploy/Dockerfile: /rootfs copied to $dst" ;;
        /rootfs/*) [ "${src#/rootfs}" = "${dst%/}" ] \
          || fail "deploy/Dockerfile: $src copied to $dst, elsewhere than in the staged tree" ;;
        *) fail "deploy/Dockerfile final stage copies $src, not from deploy/rootfs.sh's tree" ;;
      esac
      if [ -n "$chown" ]; then
        [[ "$chown" =~ ^[0-9]+:[0-9]+$ ]] || fail "COPY --chown=$chown: numeric UID:GID expected"
        [ "$dst" != / ] || fail "COPY --chown of the whole root filesystem"
        owned+=("${dst%/} $chown")
      fi
      ;;
    *)
      fail "deploy/Dockerfile final stage: this test cannot reproduce: $instruction"
      ;;
  esac
done < <(final_stage "$dockerfile")
[ "${#changes[@]}" -gt 0 ] || fail "no USER/ENV/ENTRYPOINT/CMD found in deploy/Dockerfile's final stage"
printf '   %s\n' "${changes[@]}" | grep -v '^   --change$' || true

# Everything root-owned, except the paths a COPY --chown gives to another owner.
tarball="$work/rootfs.tar"
excludes=()
for entry in "${owned[@]}"; do excludes+=("--exclude=.${entry%% *}"); done
tar --numeric-owner --owner=0 --group=0 -C "$rootfs" "${excludes[@]}" -cf "$tarball" .
for entry in "${owned[@]}"; do
  path="${entry%% *}" owner="${entry##* }"
  tar --numeric-owner --owner="${owner%%:*}" --group="${owner##*:}" -C "$rootfs" \
    -rf "$tarball" ".$path"
done
images+=("$image")
docker import "${changes[@]}" "$tarball" "$image" >/dev/null
image_size="$(docker image inspect --format '{{.Size}}' "$image")"
image_user="$(docker image inspect --format '{{.Config.User}}' "$image")"
dockerfile_user="$(final_stage "$dockerfile" | awk 'toupper($1) == "USER" {print $2}' | tail -1)"
[ "$image_user" = "$dockerfile_user" ] \
  || fail "the imported image's user is '$image_user', the Dockerfile's '$dockerfile_user'"
echo "   $image: $((image_size / 1024 / 1024)) MiB ($image_size bytes), user $image_user, \
entrypoint $(docker image inspect --format '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' "$image")"
tar -tvf "$tarball" | grep -E ' \./var/lib/kestrel/?$' | sed 's/^/   /'

# ---- the busybox writer -------------------------------------------------------------------
say "busybox writer: $lines lines on the json-file log driver"
busybox_root="$work/busybox"
mkdir -p "$busybox_root/bin"
cp /bin/busybox "$busybox_root/bin/busybox"
for applet in sh echo seq; do ln -s busybox "$busybox_root/bin/$applet"; done
images+=("$busybox_image")
tar --numeric-owner --owner=0 --group=0 -C "$busybox_root" -c . \
  | docker import - "$busybox_image" >/dev/null
marker="kestrel-image-test-$(openssl rand -hex 8)"
writer="kestrel-image-writer-$run_id"
containers+=("$writer")
docker run -d --name "$writer" --network none --log-driver json-file "$busybox_image" \
  sh -c "for i in \$(seq 1 $lines); do echo \"$marker line \$i\"; done" >/dev/null
writer_id="$(docker inspect --format '{{.Id}}' "$writer")"
[ "$(docker wait "$writer")" = 0 ] || { container_report "$writer"; fail "the writer failed"; }
written="$(docker logs "$writer" 2>&1 | grep -c "^$marker line ")"
[ "$written" = "$lines" ] || fail "the writer wrote $written lines, not $lines"
log_file="$containers_dir/$writer_id/$writer_id-json.log"
[ -f "$log_file" ] || fail "no json-file log at $log_file"
echo "   container $writer_id; $(stat -c '%a %U:%G' "$log_file") $log_file; \
$(stat -c '%a %U:%G' "$containers_dir/$writer_id") its directory; \
$(stat -c '%a %U:%G' "$containers_dir") containers/"

# ---- TLS, token, data directories ---------------------------------------------------------
# Throwaway CA and server certificate (127.0.0.1, localhost), for the query API and the
# webhook; a random token. Readable by every UID: the 65532 containers mount them too.
tls="$work/tls"
webhook_tls="$work/webhook-tls"
secrets="$work/secrets"
mkdir -p "$tls" "$webhook_tls" "$secrets"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=kestrel-test-ca" \
  -keyout "$work/ca.key" -out "$tls/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$tls/tls.key" -out "$work/tls.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' \
  >"$work/ext.cnf"
openssl x509 -req -in "$work/tls.csr" -CA "$tls/ca.crt" -CAkey "$work/ca.key" \
  -CAcreateserial -days 1 -extfile "$work/ext.cnf" -out "$tls/tls.crt" 2>/dev/null
cp "$tls/tls.crt" "$tls/tls.key" "$tls/ca.crt" "$webhook_tls/"
token="$(openssl rand -hex 32)"
printf '%s\n' "$token" >"$secrets/tokens"
chmod 0755 "$work" "$tls" "$webhook_tls" "$secrets"
chmod 0644 "$tls"/* "$webhook_tls"/* "$secrets"/*

# The data volume of `kestrel run` (root's; readable by the 65532 query container).
data="$work/data"
mkdir -m 0755 "$data"

# Hardened: the node pods' context, but for the user (given per container).
hardened=(--read-only --cap-drop ALL --security-opt no-new-privileges
  --memory 1g --cpus 1 --pids-limit 256 --network host)
# The variables Kubernetes injects for the Services kestrel-query (443) and kestrel (7700):
# the configuration loader must ignore them.
service_links=(
  -e KESTREL_QUERY_SERVICE_HOST=10.0.0.1 -e KESTREL_QUERY_SERVICE_PORT=443
  -e KESTREL_QUERY_SERVICE_PORT_HTTPS=443 -e KESTREL_QUERY_PORT=tcp://10.0.0.1:443
  -e KESTREL_QUERY_PORT_443_TCP=tcp://10.0.0.1:443 -e KESTREL_QUERY_PORT_443_TCP_PROTO=tcp
  -e KESTREL_QUERY_PORT_443_TCP_PORT=443 -e KESTREL_QUERY_PORT_443_TCP_ADDR=10.0.0.1
  -e KESTREL_SERVICE_HOST=10.0.0.2 -e KESTREL_SERVICE_PORT=7700
  -e KESTREL_PORT=tcp://10.0.0.2:7700 -e KESTREL_PORT_7700_TCP_ADDR=10.0.0.2
)
config_mounts=(
  -v "$single_node_config:/etc/kestrel/kestrel.toml:ro"
  -v "$tls:/etc/kestrel/tls:ro"
  -v "$webhook_tls:/etc/kestrel/webhook-tls:ro"
  -v "$secrets:/etc/kestrel/secrets:ro"
)

# Every container gets its name and ports here, in this shell (the checks run in subshells).
kestrel_run="kestrel-image-run-$run_id"
kestrel_query="kestrel-image-query-$run_id"
kestrel_nonroot="kestrel-image-nonroot-$run_id"
containers+=("$kestrel_run" "$kestrel_query" "$kestrel_nonroot")
for port_name in run_port run_metrics_port run_webhook_port query_port query_metrics_port \
  nonroot_port nonroot_metrics_port nonroot_webhook_port; do
  free_port "$port_name"
done

# `kestrel run` with the single-node configuration: NAME USER DATA_DIR QUERY METRICS WEBHOOK.
start_run() {
  local name="$1" user="$2" data_dir="$3" query="$4" metrics="$5" webhook="$6"
  docker run -d --name "$name" --user "$user" "${hardened[@]}" \
    -v "$data_dir:/var/lib/kestrel" \
    -v "$containers_dir:/var/lib/docker/containers:ro" \
    "${config_mounts[@]}" \
    -e "KESTREL_QUERY__LISTEN=127.0.0.1:$query" \
    -e "KESTREL_METRICS__LISTEN=127.0.0.1:$metrics" \
    -e "KESTREL_COLLECTOR__WEBHOOK__LISTEN=127.0.0.1:$webhook" \
    -e KESTREL_COLLECTOR__KUBERNETES__ENABLED=false \
    "${service_links[@]}" \
    "$image" --config /etc/kestrel/kestrel.toml run >/dev/null
}

api() {
  local port="$1" path="$2"
  curl -fsS --max-time 10 --cacert "$tls/ca.crt" -H "Authorization: Bearer $token" \
    "https://127.0.0.1:$port$path"
}

# Waits until the API on `port` of container `name` answers /readyz.
wait_ready() {
  local name="$1" port="$2" deadline=$((SECONDS + wait_seconds))
  until curl -fsS --max-time 5 --cacert "$tls/ca.crt" "https://127.0.0.1:$port/readyz" \
    >/dev/null 2>&1; do
    if [ "$(docker inspect --format '{{.State.Running}}' "$name")" != true ]; then
      container_report "$name" >&2
      fail "$name exited before its API was ready"
    fi
    [ "$SECONDS" -lt "$deadline" ] || {
      container_report "$name" >&2
      fail "$name: the API on 127.0.0.1:$port was not ready within ${wait_seconds}s"
    }
    sleep 0.2
  done
}

# The number of events of the writer's container the API on `port` counts (empty when the
# request fails).
count_lines() {
  local body
  body="$(api "$1" "/api/v1/search?q=container.id:$writer_id&limit=0" 2>/dev/null)" || return 0
  printf '%s' "$body" | grep -o '"total":[0-9]*' | head -1 | cut -d: -f2
}

# Errors of a process that tried to write where it cannot, or to read what it may not.
denied_pattern='read-only file system|erofs|os error 30|permission denied|os error 13|operation not permitted|os error 1[^0-9]'

# Polls until the count is `lines`; fails on a count above, on a denied write or read, or
# when time runs out. Sets first_result_ms to when the first line was counted.
wait_count() {
  local name="$1" port="$2" deadline=$((SECONDS + wait_seconds)) count=""
  first_result_ms=""
  while :; do
    count="$(count_lines "$port")"
    if [ -n "$count" ] && [ "$count" -gt 0 ] && [ -z "$first_result_ms" ]; then
      first_result_ms="$(now_ms)"
    fi
    [ "$count" = "$lines" ] && return 0
    if [ -n "$count" ] && [ "$count" -gt "$lines" ]; then
      container_report "$name" >&2
      fail "$name: the search counts $count lines of the writer, more than the $lines written"
    fi
    if [ "$(docker inspect --format '{{.State.Running}}' "$name")" != true ]; then
      container_report "$name" >&2
      fail "$name exited while $lines lines were awaited (last count: ${count:-no answer})"
    fi
    if docker logs "$name" 2>&1 | grep -iE "$denied_pattern" >/dev/null; then
      container_report "$name" >&2
      fail "$name: a read-only file system or permission error while $lines lines were \
awaited (last count: ${count:-no answer})"
    fi
    [ "$SECONDS" -lt "$deadline" ] || {
      container_report "$name" >&2
      fail "$name: after ${wait_seconds}s the search counts ${count:-no answer} of the $lines \
lines of container $writer_id"
    }
    sleep 0.25
  done
}


# Fails when `name` wrote outside its volumes or logged a denied write or read.
check_nothing_written() {
  local name="$1" diff_out denied
  diff_out="$(docker diff "$name")"
  if [ -n "$diff_out" ]; then
    printf '%s\n' "$diff_out" >&2
    fail "docker diff of $name is not empty (above): it wrote outside its volumes"
  fi
  denied="$(docker logs "$name" 2>&1 | grep -iE "$denied_pattern" || true)"
  if [ -n "$denied" ]; then
    printf '%s\n' "$denied" | head -5 | cut -c1-400 >&2
    fail "$name logged a read-only file system or permission error (above)"
  fi
}

# Runs a check in a subshell: when it fails, the failure is recorded and the next checks run.
failures=()
check() {
  local description="$1" status
  shift
  set +e
  (
    set -e
    "$@"
  )
  status=$?
  set -e
  [ "$status" = 0 ] || failures+=("$description")
}

# ---- kestrel run, as root without capabilities --------------------------------------------
say "kestrel run: --user 0:65532 ${hardened[*]}"
started_ms="$(now_ms)"
start_run "$kestrel_run" 0:65532 "$data" "$run_port" "$run_metrics_port" "$run_webhook_port"
wait_ready "$kestrel_run" "$run_port"
ready_ms="$(now_ms)"
wait_count "$kestrel_run" "$run_port"
all_ms="$(now_ms)"
hit="$(api "$run_port" "/api/v1/search?q=container.id:$writer_id&limit=1")"
case "$hit" in
  *"$marker line "*) ;;
  *) fail "a hit of the writer's container does not hold its line: $hit" ;;
esac
if docker logs "$kestrel_run" 2>&1 | grep -E 'unknown key|KESTREL_[A-Z0-9_]*(SERVICE|PORT)' >&2; then
  fail "$kestrel_run complained about the Kubernetes service variables (above)"
fi
echo "   $lines of $lines lines found over HTTPS with the token; ready after \
$((ready_ms - started_ms)) ms, first result after $((first_result_ms - started_ms)) ms, all \
lines after $((all_ms - started_ms)) ms (from docker run)"

say "kestrel run wrote nothing outside the data volume"
run_wrote_nothing() {
  check_nothing_written "$kestrel_run"
  echo "   docker diff empty; no EROFS or permission error logged; data volume $(du -sh "$data" \
    | cut -f1); memory $(docker stats --no-stream --format '{{.MemUsage}}' "$kestrel_run")"
}
check "kestrel run (UID 0): nothing written outside the data volume" run_wrote_nothing

# ---- kestrel query, as 65532 over the read-only data --------------------------------------
# In the kafka overlay the indexers write the data as UID 65532 and the query API reads it as
# 65532 from a read-only mount: a copy of what `kestrel run` wrote, given to 65532, stands for
# it (the index library writes its metadata files 0600, readable by their owner only).
say "kestrel query: --user 65532:65532 ${hardened[*]}, the data directory read-only"
query_reads_readonly_data() {
  docker stop -t 30 "$kestrel_run" >/dev/null
  local data_65532="$work/data-65532"
  cp -a "$data" "$data_65532"
  chown -R 65532:65532 "$data_65532"
  docker run -d --name "$kestrel_query" --user 65532:65532 "${hardened[@]}" \
    -v "$data_65532:/var/lib/kestrel:ro" \
    -v "$single_node_config:/etc/kestrel/kestrel.toml:ro" \
    -v "$tls:/etc/kestrel/tls:ro" \
    -v "$secrets:/etc/kestrel/secrets:ro" \
    -e "KESTREL_QUERY__LISTEN=127.0.0.1:$query_port" \
    -e "KESTREL_METRICS__LISTEN=127.0.0.1:$query_metrics_port" \
    -e KESTREL_COLLECTOR__KUBERNETES__ENABLED=false \
    "${service_links[@]}" \
    "$image" --config /etc/kestrel/kestrel.toml query >/dev/null
  wait_ready "$kestrel_query" "$query_port"
  wait_count "$kestrel_query" "$query_port"
  check_nothing_written "$kestrel_query"
  echo "   $lines of $lines lines found by kestrel query (UID 65532, data read-only)"
}
check "kestrel query (UID 65532) over the read-only data directory" query_reads_readonly_data
docker rm -f "$kestrel_query" "$kestrel_run" >/dev/null 2>&1 || true

# ---- the collector as 65532 cannot read node logs -----------------------------------------
say "kestrel run as --user 65532:65532: the node's log files are out of its reach"
nonroot_cannot_read_logs() {
  local data_nonroot="$work/data-nonroot" count deadline
  mkdir -m 0755 "$data_nonroot"
  chown 65532:65532 "$data_nonroot"
  start_run "$kestrel_nonroot" 65532:65532 "$data_nonroot" "$nonroot_port" \
    "$nonroot_metrics_port" "$nonroot_webhook_port"
  wait_ready "$kestrel_nonroot" "$nonroot_port"
  # Longer than the root collector took to index every line: still nothing.
  sleep "$(((all_ms - started_ms) / 1000 + 3))"
  count="$(count_lines "$nonroot_port")"
  if [ "$count" != 0 ]; then
    container_report "$kestrel_nonroot" >&2
    fail "$kestrel_nonroot (UID 65532) counts ${count:-no answer} lines of the writer, not 0"
  fi
  echo "   0 of $lines lines found"
  deadline=$((SECONDS + 10))
  until docker logs "$kestrel_nonroot" 2>&1 | grep -iE 'permission denied|os error 13' >/dev/null
  do
    [ "$SECONDS" -lt "$deadline" ] || {
      container_report "$kestrel_nonroot" >&2
      fail "$kestrel_nonroot found none of the lines but logged no permission error over \
/var/lib/docker/containers: it must say why it reads nothing"
    }
    sleep 0.5
  done
  echo "   and it logs:"
  docker logs "$kestrel_nonroot" 2>&1 | grep -iE 'permission denied|os error 13' | head -3 \
    | cut -c1-300 | sed 's/^/     /'
}
check "the collector as UID 65532 reads no node log and says why" nonroot_cannot_read_logs

# ---- result -------------------------------------------------------------------------------
say "measured: image $((image_size / 1024 / 1024)) MiB; API ready $((ready_ms - started_ms)) ms, \
first result $((first_result_ms - started_ms)) ms, all $lines lines $((all_ms - started_ms)) ms \
after docker run"
if [ "${#failures[@]}" -gt 0 ]; then
  printf 'image.sh: FAILED: %s\n' "${failures[@]}" >&2
  exit 1
fi
say "all checks passed"
