"""The gunicorn worker `addin-api serve` runs: gevent's, answering what gunicorn itself refuses as problem+json.

Why gevent: a slow client (a header line a second, a body a byte a second) holds a greenlet, not one of a fixed
number of threads, so such clients cannot stop a worker from answering health checks and API calls.
https://docs.gunicorn.org/en/stable/design.html — every outbound call (requests/urllib3 for Entra and Dataverse,
msal, redis) goes through sockets gevent's monkey-patching makes cooperative; per-user slots and caches use
`threading` primitives, which it makes greenlet-aware.

Requests gunicorn refuses before the app sees them (a request line or header over the limits, a malformed request
line or header) get the same problem+json shape as the app's own errors instead of gunicorn's HTML page.
"""

from __future__ import annotations

import json
import signal
import uuid
from typing import Any

from gunicorn.workers.ggevent import GeventWorker

# The stable codes of what gunicorn refuses, by the status it chose.
REFUSED = {
    400: ("bad_request", "Bad request", "The request line or a header is malformed."),
    403: ("forbidden", "Forbidden", "The request was refused."),
    414: ("uri_too_long", "URI too long", "The request line is longer than this service accepts."),
    417: ("expectation_failed", "Expectation failed", "The Expect header is not supported."),
    431: (
        "request_header_fields_too_large",
        "Request header fields too large",
        "A header is longer, or there are more headers, than this service accepts.",
    ),
    501: ("not_implemented", "Not implemented", "The transfer coding is not supported."),
}
INTERNAL = ("internal_error", "Internal error", "Something went wrong; quote the request id.")


class _Captured:
    """Stands in for the client socket while gunicorn writes its HTML error page, so only its status is kept."""

    def __init__(self) -> None:
        self.data = bytearray()

    def gettimeout(self) -> float | None:
        """Blocking, as far as gunicorn's writer can tell."""
        return None

    def setblocking(self, flag: bool) -> None:
        """Nothing to switch."""

    def sendall(self, data: bytes) -> None:
        """Keep what gunicorn would have sent."""
        self.data += data

    def status(self) -> int:
        """The status of the response gunicorn wrote (500 if it wrote none)."""
        parts = bytes(self.data).split(b"\r\n", 1)[0].split(b" ", 2)
        return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 500


def problem_response(status: int) -> bytes:
    """A complete HTTP/1.1 problem+json response for a request gunicorn refused with `status`."""
    code, title, detail = REFUSED.get(status, INTERNAL)
    request_id = str(uuid.uuid4())
    body = json.dumps(
        {
            "type": f"https://addin-api.dev/problems/{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            "requestId": request_id,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {title}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


class ProblemGeventWorker(GeventWorker):  # type: ignore[misc]
    """gunicorn's gevent worker; its own error answers are problem+json (gunicorn still picks status and logs)."""

    def init_process(self) -> None:
        """Stop if told to while gevent patches and the app loads, before gunicorn installs the worker's handlers.

        A signal in that window would otherwise reach the handler inherited from the master and be lost, and the
        master would wait its whole graceful timeout before killing the worker.
        """
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(signum, self._stop_early)
        super().init_process()

    def _stop_early(self, signum: int, frame: Any) -> None:
        self.alive = False

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """Let gunicorn classify and log the error, then send our body with its status."""
        captured = _Captured()
        super().handle_error(req, captured, addr, exc)
        try:
            client.sendall(problem_response(captured.status()))
        except OSError:
            self.log.debug("Failed to send error message.")
