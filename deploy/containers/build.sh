#!/usr/bin/env bash
# Build Vigil's images with podman, no registry involved: the mmdebstrap base (cached by its inputs), then one
# image per role from deploy/containers/Containerfile, tagged localhost/vigil-ROLE:VERSION and :latest.
# Layers are cached in podman's storage, so a rebuild after a code change redoes only the wheel and the
# last layers. Usage: build.sh [ROLE...] (default: validate detect threat report server).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
podman="${PODMAN:-podman}"
roles=("$@")
((${#roles[@]})) || roles=(validate detect threat report server)
version="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' src/vigil/__init__.py)"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [[ $revision != unknown && -n "$(git status --porcelain -- src pyproject.toml deploy/containers 2>/dev/null)" ]]; then
  revision="$revision-dirty"
fi
"$repo/deploy/containers/base.sh"
# A minimal build context (what .containerignore lets in): podman would otherwise walk the whole checkout,
# .venv and .git included, on every build, even when every layer is cached.
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/deploy"
cp -r pyproject.toml README.md src .containerignore "$context/"
cp -r deploy/containers "$context/deploy/"
find "$context" -name __pycache__ -prune -exec rm -rf {} +
echo "$revision" > "$context/deploy/containers/revision"
# pip inside the build trusts what pip trusts here (this machine's pip config may name a CA bundle with a
# proxy's certificate): handed over as a build secret, never stored in a layer.
cert="${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}"
[[ -s $cert ]] || cert=/etc/ssl/certs/ca-certificates.crt
for role in "${roles[@]}"; do
  target=stage
  [[ $role == server ]] && target=server
  start=$(date +%s)
  # --network host: pip reaches the package index from inside the build; --format docker keeps HEALTHCHECK.
  "$podman" build --pull=never --network host --format docker --layers -q \
    --secret id=pip-cert,src="$cert" -f "$context/deploy/containers/Containerfile" --target "$target" --build-arg ROLE="$role" \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    -t "localhost/vigil-$role:$version" -t "localhost/vigil-$role:latest" "$context" >/dev/null
  size=$("$podman" image inspect --format '{{.Size}}' "localhost/vigil-$role:latest")
  printf 'images: localhost/vigil-%-8s %4d MB  (%ds)\n' "$role" $((size / 1000000)) $(($(date +%s) - start))
done
