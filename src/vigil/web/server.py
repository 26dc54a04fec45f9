"""Running the API with uvicorn: the listening socket, logging (one line per event, JSON with ``log_json``),
graceful shutdown on SIGTERM/SIGINT (uvicorn stops accepting, finishes requests, then the app's lifespan stops
the runner and flushes pushed frames)."""

from __future__ import annotations

import json
import logging
import re
import socket
import time

import uvicorn

from vigil.app import App
from vigil.errors import RedactingFilter
from vigil.web.factory import MAX_BODY, create_app

log = logging.getLogger("vigil.serve")
_TOKEN = re.compile(r"(vgl_[0-9a-f]+_)[A-Za-z0-9_\-]+")


class RedactTokens(logging.Filter):
    """API tokens never reach a log line, even one a client put where it does not belong (a URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = _TOKEN.sub(r"\1***", message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
               "message": record.getMessage()}
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def configure_logging(json_lines: bool, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens())
    handler.addFilter(RedactingFilter())  # passwords in URLs, bearer headers, key=value secrets
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def serve(app: App, host: str = "127.0.0.1", port: int = 8080, *, runner: bool = True, log_json: bool = False,
          interval: float = 0.5, max_body: int = MAX_BODY, shutdown_grace: float = 20.0) -> None:
    """Serve until SIGTERM/SIGINT. Port 0 picks a free port (logged as ``listening on http://HOST:PORT``)."""
    configure_logging(log_json)
    web = create_app(app, runner=runner, interval=interval, max_body=max_body, shutdown_grace=shutdown_grace)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(web, log_config=None, access_log=True, timeout_graceful_shutdown=round(shutdown_grace),
                            lifespan="on")
    server = uvicorn.Server(config)
    bound = sock.getsockname()
    shown = host if ":" not in host else f"[{host}]"
    log.info("listening on http://%s:%d (workspace %s)", shown, bound[1], app.workspace.root)
    log.info("dashboard: http://%s:%d/ui/ (log in with an API token: `vigil token create --role operator "
             "[--tenant TENANT]`)", "127.0.0.1" if host in ("0.0.0.0", "::") else shown, bound[1])
    started = time.monotonic()
    server.run(sockets=[sock])
    log.info("server stopped after %.0f s", time.monotonic() - started)


__all__ = ["JsonFormatter", "RedactTokens", "configure_logging", "serve"]
