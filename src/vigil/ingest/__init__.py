"""Ways frames come in (HTTP push now; RTSP, snapshot URLs and watched folders later), and the group committer
that turns concurrent arrivals into few commits."""
