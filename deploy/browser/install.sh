#!/usr/bin/env bash
# Install the browser the dashboard's tests drive (tests/web/test_browser.py, through Playwright's Python
# package): Debian's Chromium, only when missing (idempotent). Playwright's own browser download
# (`playwright install`) is never used: the tests launch /usr/bin/chromium by path.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "install.sh: chromium is missing; run as root (apt-get) or install Debian's chromium package" >&2
  exit 1
fi
echo "install.sh: installing chromium"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
