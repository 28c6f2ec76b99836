"""The task pane, its assets, the icons and `/manifest.xml`: what Outlook loads from this service."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, jsonify, request, send_from_directory
from werkzeug.exceptions import NotFound

from addin_api.manifest import render_manifest, sso_resource
from addin_api.wiring import collaborators

STATIC = Path(__file__).resolve().parents[1] / "static"
PANE_DIR = STATIC / "taskpane"
ASSETS_DIR = STATIC / "assets"
OFFICE_JS_ORIGIN = "https://appsforoffice.microsoft.com"

# Outlook shows the pane in an iframe (web) or a webview (desktop), so no frame-ancestors 'none' here. Office.js
# comes from Microsoft's CDN and loads its host-specific scripts from there too; it talks to Outlook by postMessage.
# https://learn.microsoft.com/office/dev/add-ins/concepts/content-security-policy
PANE_CSP = "; ".join(
    (
        "default-src 'self'",
        f"script-src 'self' {OFFICE_JS_ORIGIN}",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        f"frame-src 'self' {OFFICE_JS_ORIGIN} https://*.office.com https://*.office365.com https://*.microsoft.com",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)

bp = Blueprint("taskpane", __name__)


def pane_response(response: Response) -> Response:
    """Headers every pane page carries: its CSP and no caching of the HTML (assets are versioned by deploys)."""
    response.headers["Content-Security-Policy"] = PANE_CSP
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/taskpane.html")
def taskpane() -> Response:
    """The task pane."""
    return pane_response(send_from_directory(PANE_DIR, "taskpane.html", max_age=0))


@bp.get("/commands.html")
def commands() -> Response:
    """The manifest's FunctionFile: loads Office.js, needed only because the schema requires one."""
    return pane_response(send_from_directory(PANE_DIR, "commands.html", max_age=0))


@bp.get("/taskpane/config.json")
def pane_config() -> Response:
    """What the pane needs for MSAL nested app authentication: the API's client id and scope, the SPA client id."""
    settings = collaborators().settings
    base_url = settings.public_url or request.host_url.rstrip("/")
    response = jsonify(
        {
            "clientId": settings.client_id,
            "apiScope": f"{sso_resource(base_url, settings.client_id)}/access_as_user",
            "naaClientId": settings.nested_app_client_id,
        }
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/taskpane/<path:name>")
def pane_asset(name: str) -> Response:
    """The pane's scripts and styles (the dev stand-in for Office.js is not served here)."""
    if name.startswith("dev/") or name.endswith(".html"):
        raise NotFound()
    response = send_from_directory(PANE_DIR, name, max_age=300)
    response.headers["Content-Security-Policy"] = PANE_CSP
    return response


@bp.get("/assets/<name>")
def asset(name: str) -> Response:
    """Icons the manifest points at."""
    return send_from_directory(ASSETS_DIR, name, max_age=86400)


@bp.get("/manifest.xml")
def manifest() -> Response:
    """The add-in manifest for this deployment (`ADDIN_API_PUBLIC_URL`, `ADDIN_API_CLIENT_ID`)."""
    settings = collaborators().settings
    base_url = settings.public_url or request.host_url.rstrip("/")
    body = render_manifest(base_url, settings.client_id)
    response = Response(body, mimetype="application/xml")
    response.headers["Content-Disposition"] = 'inline; filename="manifest.xml"'
    response.headers["Cache-Control"] = "no-cache"
    return response
