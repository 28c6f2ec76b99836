"""Build the devstack app (dev identity provider + emulated Dataverse + control surface) and serve it over HTTPS.

`DevstackServer` is what `addin-api devstack`, `addin-api dev` and the test fixtures start: one threaded
HTTPS listener, so injected latency overlaps across clients as it does on the real services.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
import threading
from collections.abc import Sequence
from pathlib import Path

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from addin_api.devstack import control, identity
from addin_api.devstack.certs import ensure_certificates
from addin_api.devstack.config import DevConfig, DevUser
from addin_api.devstack.dataverse import init_app as init_dataverse
from addin_api.devstack.dataverse.store import DataverseStore
from addin_api.devstack.keys import KeyRing
from addin_api.devstack.state import DevstackState


def create_devstack_app(
    data_dir: Path, base_url: str, db_path: Path | None = None, extra_users: Sequence[DevUser] = ()
) -> Flask:
    """Create the devstack Flask app for a data directory; `db_path` defaults to `<data_dir>/dataverse.sqlite3`.

    `extra_users` join the demo users (e.g. `synthetic_users(n)` for a load test with n distinct users).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    config = DevConfig.load(data_dir)
    if extra_users:
        config = dataclasses.replace(config, users=(*config.users, *extra_users))
    state = DevstackState(
        data_dir=data_dir,
        config=config,
        keys=KeyRing(data_dir),
        dataverse=DataverseStore(db_path or data_dir / "dataverse.sqlite3", config),
        base_url=base_url,
    )
    app = Flask("addin_api.devstack")
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["devstack"] = state
    control.init_app(app)
    identity.init_app(app)
    init_dataverse(app)
    return app


class DevstackServer:
    """A running devstack: HTTPS on `host:port` (0 picks a free port) in a background thread."""

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int = 5001,
        db_path: Path | None = None,
        extra_users: Sequence[DevUser] = (),
    ):
        self.data_dir = data_dir
        ca, cert, key = ensure_certificates(data_dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.app = create_devstack_app(data_dir, f"https://{host}:{port}", db_path, extra_users)
        self._server: BaseWSGIServer = make_server(host, port, self.app, threaded=True, ssl_context=context)
        self.port = self._server.server_port
        self.url = f"https://{host}:{self.port}"
        self.state.base_url = self.url
        self.ca_file = ca
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> DevstackState:
        """The running devstack's state."""
        state = self.app.extensions["devstack"]
        assert isinstance(state, DevstackState)
        return state

    def start(self) -> DevstackServer:
        """Serve in a daemon thread and return self."""
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._thread = threading.Thread(target=self._server.serve_forever, name="devstack", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until `stop()` is called from elsewhere."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
