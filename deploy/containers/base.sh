#!/usr/bin/env bash
# The runtime base image, built with no container registry: a Debian bookworm root filesystem made by
# mmdebstrap from Debian's packages, imported with `podman import` as localhost/vigil-base.
#
# Cached: the image carries a label with the sha256 of its inputs (this script and base.packages); it is
# rebuilt only when that changes, or with FORCE=1. Usage: base.sh [IMAGE] (default localhost/vigil-base:bookworm).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
image="${1:-localhost/vigil-base:bookworm}"
podman="${PODMAN:-podman}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
inputs="$(cat "$0" "$here/base.packages" | sha256sum | cut -c1-64)"

current="$("$podman" image inspect --format '{{ index .Labels "org.vigil.base.inputs" }}' "$image" 2>/dev/null || true)"
if [[ "$current" == "$inputs" && "${FORCE:-0}" != 1 ]]; then
  echo "base: $image is up to date (inputs ${inputs:0:12})"
  exit 0
fi

packages="$(grep -v '^#' "$here/base.packages" | xargs | tr ' ' ',')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "base: building $image (inputs ${inputs:0:12}) with mmdebstrap: $packages"
# minbase + only the packages listed; no docs, man pages, locales or apt lists in the image.
mmdebstrap --variant=minbase --include="$packages" \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*.log' \
  bookworm "$work/rootfs.tar" "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
  "deb ${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security} bookworm-security main"

"$podman" import \
  --change 'ENV LANG=C.UTF-8' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  --change "LABEL org.vigil.base.inputs=$inputs" \
  --change 'LABEL org.opencontainers.image.title=vigil-base org.opencontainers.image.base.name=debian:bookworm' \
  "$work/rootfs.tar" "$image" >/dev/null
echo "base: $image built"
