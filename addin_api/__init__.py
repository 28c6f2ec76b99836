"""addin-api: the backend of an Outlook add-in that tracks emails and appointments into Microsoft Dataverse."""

from __future__ import annotations

from flask import Flask

from addin_api.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the service: settings, collaborators, error handling and the API blueprints."""
    from addin_api import api, logs, metrics, openapi, wiring

    app = Flask(__name__, static_folder=None)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # Registered before the API's hooks, so their after-request hooks see the final response.
    logs.init_app(app)
    metrics.init_app(app)
    wiring.init_app(app, settings)
    api.init_app(app)
    openapi.init_app(app)
    return app


__all__ = ["create_app"]
