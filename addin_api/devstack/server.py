"""Build the devstack app (dev identity provider + emulated Dataverse + control surface) and serve it over HTTPS.

`DevstackServer` is what `addin-api devstack`, `addin-api dev`, the bench and the test fixtures start: one HTTPS
listener with a pool of worker threads (cheroot), so injected latency overlaps across clients as it does on the real
services, and persistent HTTP/1.1 connections, which Dataverse and Entra keep open between requests: a keep-alive
client pays one TLS handshake per connection, not one per request.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from flask import Flask

from addin_api.devstack import control, identity_routes, webclient
from addin_api.devstack.certs import ensure_certificates
from addin_api.devstack.config import DevConfig, DevUser
from addin_api.devstack.dataverse import init_app as init_dataverse
from addin_api.devstack.dataverse.store import DataverseStore
from addin_api.devstack.graph import init_app as init_graph
from addin_api.devstack.keys import KeyRing
from addin_api.devstack.seed import seed_records
from addin_api.devstack.state import DevstackState


def create_devstack_app(
    data_dir: Path,
    base_url: str,
    db_path: Path | None = None,
    extra_users: Sequence[DevUser] = (),
    application_users: Sequence[DevUser] | None = None,
) -> Flask:
    """Create the devstack Flask app for a data directory; `db_path` defaults to `<data_dir>/dataverse.sqlite3`.

    `extra_users` join the demo users (e.g. `synthetic_users(n)` for a load test with n distinct users);
    `application_users` replace the demo application user (`()`: an environment where the app has none).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    config = DevConfig.load(data_dir)
    if extra_users:
        config = dataclasses.replace(config, users=(*config.users, *extra_users))
    if application_users is not None:
        config = dataclasses.replace(config, application_users=tuple(application_users))
    state = DevstackState(
        data_dir=data_dir,
        config=config,
        keys=KeyRing(data_dir),
        dataverse=DataverseStore(db_path or data_dir / "dataverse.sqlite3", config, seed_records(config)),
        base_url=base_url,
    )
    app = Flask("addin_api.devstack")
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["devstack"] = state
    control.init_app(app)
    identity_routes.init_app(app)
    init_dataverse(app)
    init_graph(app)
    webclient.init_app(app)
    return app


# Enough worker threads for every request in flight at once (a load test of 64 users, each with a request or two
# waiting on injected latency); idle keep-alive connections wait in a selector and hold no thread.
WORKER_THREADS = 160
# How long an idle connection is kept open (and how long a request may stall mid-read) before it is closed.
IDLE_TIMEOUT_SECONDS = 120
MAX_IDLE_CONNECTIONS = 4096


LOG = logging.getLogger(__name__)


class _Server(wsgi.Server):
    """cheroot's WSGI server, reporting through `logging` (cheroot writes to stderr): dropped connections and
    clients speaking plain HTTP at DEBUG, errors at their level."""

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        LOG.log(level if level > logging.INFO else logging.DEBUG, "%s", msg, exc_info=traceback)


class HttpsServer:
    """A WSGI app served over HTTPS with persistent HTTP/1.1 connections, in a background thread or the caller's."""

    def __init__(
        self, app: Any, host: str, port: int, cert: Path, key: Path, threads: int = WORKER_THREADS, name: str = "https"
    ) -> None:
        self._server = _Server(
            (host, port), app, numthreads=threads, timeout=IDLE_TIMEOUT_SECONDS, request_queue_size=128
        )
        # cheroot closes every connection beyond ten idle ones by default; keep as many as clients hold open.
        self._server.keep_alive_conn_limit = MAX_IDLE_CONNECTIONS
        self._server.ssl_adapter = BuiltinSSLAdapter(str(cert), str(key))
        self._server.prepare()  # binds now, so that port 0 has its real port
        self.port: int = self._server.bind_addr[1]
        self._name = name
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve, name=self._name, daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in the calling thread until `stop()` is called from elsewhere."""
        self._server.serve()

    def stop(self) -> None:
        """Stop serving: close the listening socket and the open connections, and wait for the workers."""
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)


class DevstackServer:
    """A running devstack: HTTPS on `host:port` (0 picks a free port) in a background thread."""

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 5001,
        db_path: Path | None = None,
        extra_users: Sequence[DevUser] = (),
        application_users: Sequence[DevUser] | None = None,
    ):
        self.data_dir = data_dir
        ca, cert, key = ensure_certificates(data_dir)
        self.app = create_devstack_app(
            data_dir, f"https://{host}:{port}", db_path, extra_users, application_users=application_users
        )
        self._server = HttpsServer(self.app, host, port, cert, key, name="devstack")
        self.port = self._server.port
        self.url = f"https://{host}:{self.port}"
        self.state.base_url = self.url
        self.ca_file = ca

    @property
    def state(self) -> DevstackState:
        """The running devstack's state."""
        state = self.app.extensions["devstack"]
        assert isinstance(state, DevstackState)
        return state

    def start(self) -> DevstackServer:
        """Serve in a daemon thread and return self."""
        self._server.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until `stop()` is called from elsewhere."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the listening socket and every open connection."""
        self._server.stop()
