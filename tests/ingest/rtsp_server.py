"""A real RTSP server for the ingest tests: GStreamer's gst-rtsp-server streaming an H.264 MP4 as it is (no
re-encoding), in real time, looping, at rtsp://127.0.0.1:PORT/cam.

Run by the system Python (/usr/bin/python3, which has python3-gi; deploy/ingest/install-rtsp.sh installs it):
``python3 rtsp_server.py CLIP PORT``. Prints ``ready`` once listening. Killing the process is the outage.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    clip, port = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f'( filesrc location="{clip}" ! qtdemux ! rtph264pay name=pay0 pt=96 config-interval=1 )')
    factory.set_shared(True)  # one pipeline for every client, as a camera has
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
