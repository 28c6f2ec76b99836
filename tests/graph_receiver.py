"""A small webhook receiver for Graph subscriptions: answers the validation handshake, records notifications."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class WebhookReceiver:
    """HTTP on a free loopback port: `/notify` and `/lifecycle`; `echo=False` answers validations wrongly."""

    def __init__(self) -> None:
        self.echo = True
        self.status = 202
        self.validations: list[str] = []
        self.notifications: list[dict[str, Any]] = []
        self.lifecycle: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                token = parse_qs(parts.query).get("validationToken")
                if token:
                    with receiver._lock:
                        receiver.validations.append(token[0])
                    answer = (token[0] if receiver.echo else "not the token").encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                    return
                body = json.loads(raw or b"{}")
                with receiver._lock:
                    target = receiver.lifecycle if parts.path == "/lifecycle" else receiver.notifications
                    target.extend(body.get("value", []))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening."""
        self._server.shutdown()
        self._server.server_close()


def wait_until(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Poll until `check()` is truthy (returning it) or the time is up (returning the last falsy value)."""
    deadline = time.monotonic() + seconds
    result = check()
    while not result and time.monotonic() < deadline:
        time.sleep(0.05)
        result = check()
    return result
