#!/usr/bin/env bash
# Push Vigil's images to REGISTRY (host:port) as REGISTRY/vigil-ROLE:VERSION and :latest.
# TLS_VERIFY=false for a plain-HTTP registry (e.g. one on 127.0.0.1). Usage: push.sh REGISTRY [ROLE...]
set -euo pipefail
registry="${1:?usage: push.sh REGISTRY [ROLE...]}"; shift
podman="${PODMAN:-podman}"
roles=("$@")
((${#roles[@]})) || roles=(validate detect threat report server)
repo="$(cd "$(dirname "$0")/../.." && pwd)"
version="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$repo/src/vigil/__init__.py")"
for role in "${roles[@]}"; do
  for tag in "$version" latest; do
    "$podman" push -q --tls-verify="${TLS_VERIFY:-true}" "localhost/vigil-$role:$tag" "docker://$registry/vigil-$role:$tag"
  done
  echo "pushed $registry/vigil-$role:$version"
done
