#!/usr/bin/env bash
# Install what the ingest tests' RTSP server needs, from Debian's packages, only when missing (idempotent):
# GStreamer's RTSP server library with its GObject introspection data (GstRtspServer), python3-gi for the
# system Python that runs it (tests/ingest/rtsp_server.py), and the good plugins (qtdemux, rtph264pay), which
# stream an H.264 MP4 as it is, without re-encoding.
set -euo pipefail
check() {
  /usr/bin/python3 - <<'PY' >/dev/null 2>&1
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer  # noqa: F401
Gst.init(None)
assert all(Gst.ElementFactory.find(n) for n in ("qtdemux", "rtph264pay", "filesrc"))
PY
}
if check; then
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "install-rtsp.sh: GStreamer's RTSP server is missing; run as root (apt-get) or install" \
       "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good python3-gi" >&2
  exit 1
fi
echo "install-rtsp.sh: installing GStreamer's RTSP server"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  gir1.2-gst-rtsp-server-1.0 gir1.2-gstreamer-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
  python3-gi >/dev/null
check || { echo "install-rtsp.sh: installed, but GstRtspServer still does not load" >&2; exit 1; }
