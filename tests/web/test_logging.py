"""Server logs: one JSON object per line with --log-json, and no API token in any line."""

from __future__ import annotations

import json
import logging

from vigil.web.server import JsonFormatter, RedactTokens


def test_json_lines_never_carry_a_token() -> None:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "GET %s HTTP/1.1" %d',
                               ("127.0.0.1", "/api/v1/events?token=vgl_0123456789ab_SECRETsecret-_x", 200), None)
    assert RedactTokens().filter(record)
    line = JsonFormatter().format(record)
    doc = json.loads(line)
    assert "\n" not in line and doc["level"] == "info" and doc["logger"] == "uvicorn.access"
    assert "SECRET" not in line and "vgl_0123456789ab_***" in doc["message"]
