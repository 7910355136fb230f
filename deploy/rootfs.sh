#!/usr/bin/env bash
# Stages the root filesystem of the Kestrel image in OUTDIR: the binary, exactly the shared
# libraries it links (as `ldd` resolves them, the dynamic loader at its absolute path), the CA
# bundle, passwd/group, the rule pack, and the empty mount points a read-only root needs. No
# shell, no package manager, no /tmp: Kestrel writes nowhere but its data directory.
#
# Usage: deploy/rootfs.sh BINARY OUTDIR
#   BINARY  a release build of `kestrel`
#   OUTDIR  created; must not exist or be empty
#
# Used by deploy/Dockerfile (final stage `FROM scratch`, COPY of OUTDIR) and by
# tests/deploy/image.sh (`docker import` of OUTDIR). Run as root, /var/lib/kestrel is chowned
# to 65532:65532; otherwise whoever packs OUTDIR sets that owner (both callers do).
set -euo pipefail

die() {
  echo "rootfs.sh: error: $*" >&2
  exit 1
}

[ "$#" -eq 2 ] || die "usage: deploy/rootfs.sh BINARY OUTDIR"
binary="$1"
out="$2"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ca_bundle=/etc/ssl/certs/ca-certificates.crt

[ -e "$binary" ] || die "the binary $binary does not exist"
[ -f "$binary" ] && [ -x "$binary" ] || die "the binary $binary is not an executable file"
command -v ldd >/dev/null || die "ldd is required (package libc-bin)"
[ -f "$ca_bundle" ] || die "$ca_bundle is missing (package ca-certificates)"
[ -d "$repo/rules" ] || die "the rule pack $repo/rules is missing"
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  die "$out exists and is not empty"
fi

umask 022
mkdir -p "$out"

# The binary's dependencies as ldd resolves them. Lines are `name => /path (0x...)`,
# `/abs/loader (0x...)`, `linux-vdso.so.1 (0x...)` (in the kernel, nothing to copy) or
# `name => not found`. A static binary has none.
if ! ldd_out="$(ldd "$binary" 2>&1)"; then
  case "$ldd_out" in
    *"not a dynamic executable"* | *"statically linked"*) ldd_out="" ;;
    *) die "ldd $binary failed: $ldd_out" ;;
  esac
fi
libs=()
while read -r line; do
  [ -n "$line" ] || continue
  case "$line" in
    *"not found"*) die "$binary needs a library that is not installed: $line" ;;
    *" => "*) path="$(printf '%s\n' "$line" | awk '{print $3}')" ;;
    /*) path="$(printf '%s\n' "$line" | awk '{print $1}')" ;;
    linux-vdso.so.* | linux-gate.so.*) continue ;;
    "statically linked") continue ;;
    *) die "unexpected ldd output for $binary: $line" ;;
  esac
  case "$path" in
    /*) ;;
    *) die "ldd gave no absolute path for $binary: $line" ;;
  esac
  [ -f "$path" ] || die "$binary links $path, which does not exist"
  libs+=("$path")
done <<<"$ldd_out"

install -D -m 0755 "$binary" "$out/usr/local/bin/kestrel"
for lib in "${libs[@]}"; do
  # At the path the binary resolves it to (the loader by its PT_INTERP path, /lib64/...), the
  # file itself rather than a symbolic link.
  mkdir -p "$out$(dirname "$lib")"
  cp -L --preserve=mode "$lib" "$out$lib" || die "cannot copy $lib"
done

install -D -m 0644 "$ca_bundle" "$out$ca_bundle"

# Users and groups: root, and kestrel (65532) for the roles that run unprivileged. No login
# shell exists in the image.
mkdir -p "$out/etc"
cat >"$out/etc/passwd" <<'EOF'
root:x:0:0:root:/nonexistent:/sbin/nologin
kestrel:x:65532:65532:kestrel:/nonexistent:/sbin/nologin
EOF
cat >"$out/etc/group" <<'EOF'
root:x:0:
kestrel:x:65532:
EOF
# /etc/hosts before DNS (glibc's default without this file is DNS first).
cat >"$out/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
chmod 0644 "$out/etc/passwd" "$out/etc/group" "$out/etc/nsswitch.conf"

# The rule pack: its Sigma files (*.yml, *.yaml), in their directories, and the default values
# of the placeholders they name (placeholders.toml).
(
  cd "$repo/rules"
  find . -type f \( -name '*.yml' -o -name '*.yaml' -o -name placeholders.toml \) -print0 \
    | while IFS= read -r -d '' rule; do
      install -D -m 0644 "$rule" "$out/etc/kestrel/rules/$rule"
    done
)
[ -n "$(find "$out/etc/kestrel/rules" -type f 2>/dev/null)" ] || die "no rule file in $repo/rules"

# Mount points. With a read-only root the runtime cannot create them in the image's layer (or
# creates them in the container's writable layer before making it read-only): each one exists.
#   /proc /sys /dev                        the runtime's file systems
#   /etc/hosts /etc/hostname /etc/resolv.conf   bind-mounted by Docker and the kubelet
#   /var/lib/kestrel                       the data volume (index, checkpoints, outbox), 65532
#   /var/lib/kestrel-collector             the collector DaemonSet's state (hostPath)
#   /var/log/pods /var/lib/docker/containers /var/log/kubernetes/audit   node logs, read-only
#   /etc/kestrel/{kestrel,query,indexer,audit-webhook}.toml   configurations (ConfigMap subPaths)
#   /etc/kestrel/tls /etc/kestrel/webhook-tls /etc/kestrel/secrets       TLS files, tokens
#   /var/run/secrets/kubernetes.io/serviceaccount   the collector's API token
mkdir -p \
  "$out/proc" "$out/sys" "$out/dev" \
  "$out/var/lib/kestrel" "$out/var/lib/kestrel-collector" \
  "$out/var/log/pods" "$out/var/lib/docker/containers" "$out/var/log/kubernetes/audit" \
  "$out/etc/kestrel/tls" "$out/etc/kestrel/webhook-tls" "$out/etc/kestrel/secrets" \
  "$out/var/run/secrets/kubernetes.io/serviceaccount"
: >"$out/etc/hosts"
: >"$out/etc/hostname"
: >"$out/etc/resolv.conf"
chmod 0644 "$out/etc/hosts" "$out/etc/hostname" "$out/etc/resolv.conf"
for config in kestrel query indexer audit-webhook; do
  cat >"$out/etc/kestrel/$config.toml" <<'EOF'
# Mount point of a configuration (deploy/kubernetes/ mounts a ConfigMap here). Without one,
# Kestrel runs on its defaults and KESTREL_* environment variables.
EOF
  chmod 0644 "$out/etc/kestrel/$config.toml"
done

if [ "$(id -u)" = 0 ]; then
  chown 65532:65532 "$out/var/lib/kestrel"
else
  echo "rootfs.sh: not root: $out/var/lib/kestrel is left to the packer to own 65532:65532" >&2
fi

echo "rootfs.sh: staged $out: kestrel, ${#libs[@]} libraries, $(find "$out/etc/kestrel/rules" -type f | wc -l) rule files"
