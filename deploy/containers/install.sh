#!/usr/bin/env bash
# Install what building and running Vigil's images needs, from Debian's packages, only when missing (idempotent):
# podman, buildah, mmdebstrap (the base image), runc, catatonit (podman run --init), docker-registry (the
# push/pull test), skopeo.
# On machines whose cgroups are v1/hybrid (crun refuses them) podman is told to use runc with cgroupfs, and
# where this process may not raise resource limits (no CAP_SYS_RESOURCE), containers get the current ones.
set -euo pipefail
need=()
for pair in podman:podman buildah:buildah mmdebstrap:mmdebstrap runc:runc docker-registry:docker-registry \
            skopeo:skopeo catatonit:catatonit; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "install.sh: missing ${need[*]}; run as root (apt-get) or install them" >&2
    exit 1
  fi
  echo "install.sh: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
    uidmap fuse-overlayfs slirp4netns containernetworking-plugins netavark aardvark-dns crun >/dev/null
  # the Debian package starts a registry on :5000 as a service; tests start their own on a free port
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi
fi
conf=/etc/containers/containers.conf.d/50-vigil.conf
if [[ $(id -u) == 0 && ! -e $conf ]]; then
  mkdir -p "$(dirname "$conf")"
  {
    echo "# Written by Vigil's deploy/containers/install.sh for this machine kind."
    if [[ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]]; then
      printf '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
    fi
    # podman raises RLIMIT_NOFILE/NPROC by default, which fails without CAP_SYS_RESOURCE (bit 24 of CapEff):
    # containers keep this machine's limits instead (nproc capped where runc was seen to refuse more).
    capeff=$(awk '/^CapEff/ {print $2}' /proc/self/status)
    if (( ((16#$capeff) >> 24 & 1) == 0 )); then
      nproc=$(ulimit -Hu); [[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
      printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' \
        "$(ulimit -Hn)" "$(ulimit -Hn)" "$nproc" "$nproc"
    fi
  } > "$conf"
  echo "install.sh: wrote $conf"
fi
