"""The task pane, its assets, the icons and `/manifest.xml`: what Outlook loads from this service."""

from __future__ import annotations

import io
from pathlib import Path

from flask import Blueprint, Response, jsonify, send_file
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

from addin_api.errors import ConfigurationError
from addin_api.manifest import render_manifest, sso_resource
from addin_api.model import ADD_IN_NOT_ALLOWED_MESSAGE
from addin_api.schemas import MAX_APPOINTMENT_SUBJECT_LENGTH, MAX_SUBJECT_LENGTH
from addin_api.wiring import collaborators

STATIC = Path(__file__).resolve().parents[1] / "static"
# Production files only: the dev harness and the Office.js stand-in live in their own root (static/dev), which only
# the dev harness serves.
PANE_DIR = STATIC / "taskpane"
ASSETS_DIR = STATIC / "assets"
ASSET_SUFFIXES = (".js", ".css")


def _pane_assets(root: Path) -> dict[str, Path]:
    """The pane's scripts and styles under `root`, by their URL path (`taskpane.js`, `vendor/msal-browser.min.js`)."""
    return {
        path.relative_to(root).as_posix(): path
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in ASSET_SUFFIXES
    }


def send_static(path: Path, max_age: int) -> Response:
    """A small static file from memory, with its ETag and Last-Modified (conditional requests answer 304).

    The bytes are read before the response starts, so a client that goes away mid-answer leaves no open file behind.
    """
    stat = path.stat()
    return send_file(
        io.BytesIO(path.read_bytes()),
        download_name=path.name,
        etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
        last_modified=stat.st_mtime,
        max_age=max_age,
        conditional=True,
    )


# What `/taskpane/<name>` serves: looked up by the exact name, so no other spelling of a path (dot segments,
# encoded slashes, backslashes) can reach a file outside this list.
PANE_ASSETS = _pane_assets(PANE_DIR)
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

# The sentences the pane shows for states the service decides (the pane keeps the same words as its fallback).
PANE_TEXTS = {
    "addInNotAllowed": ADD_IN_NOT_ALLOWED_MESSAGE,
    "readOnly": "Your security role lets you view Dynamics 365 data but not track items or create records.",
    "consentRequired": "Dynamics 365 needs your consent (or your admin's) before this add-in can work for you.",
    "officeMissing": "Office.js could not load, so this pane cannot read the item. Open it from an email or a "
    "meeting in Outlook.",
    "noItem": "Open this pane from an email or a meeting in Outlook.",
    "steppedUp": "Your organization asked for an extra sign-in step (multifactor authentication); it was completed.",
    "untrackConfirm": "Untrack deletes the activity from Dynamics 365 (with its attachments). The email stays in "
    "Outlook.",
}


def _public_url() -> str:
    """`ADDIN_API_PUBLIC_URL`: the deployment's identity (SSO resource, manifest URLs), never a request's Host."""
    public_url = collaborators().settings.public_url
    if public_url is None:
        raise ConfigurationError("ADDIN_API_PUBLIC_URL is not set")
    return public_url


def pane_response(response: Response) -> Response:
    """Headers every pane page carries: its CSP and no caching of the HTML (assets are versioned by deploys)."""
    response.headers["Content-Security-Policy"] = PANE_CSP
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/taskpane.html")
def taskpane() -> Response:
    """The task pane."""
    return pane_response(send_static(PANE_DIR / "taskpane.html", max_age=0))


@bp.get("/commands.html")
def commands() -> Response:
    """The manifest's FunctionFile: loads Office.js, needed only because the schema requires one."""
    return pane_response(send_static(PANE_DIR / "commands.html", max_age=0))


@bp.get("/taskpane/config.json")
def pane_config() -> Response:
    """What the pane needs: for MSAL nested app authentication the API's client id and scope and the SPA client id;
    the service's limits (attachment size, subject lengths) and the texts it shows."""
    base_url = _public_url()
    settings = collaborators().settings
    response = jsonify(
        {
            "clientId": settings.client_id,
            "apiScope": f"{sso_resource(base_url, settings.client_id)}/access_as_user",
            "naaClientId": settings.nested_app_client_id,
            "maxAttachmentBytes": settings.max_attachment_bytes,
            "maxSubjectLength": MAX_SUBJECT_LENGTH,
            "maxAppointmentSubjectLength": MAX_APPOINTMENT_SUBJECT_LENGTH,
            "texts": PANE_TEXTS,
        }
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/taskpane/<path:name>")
def pane_asset(name: str) -> Response:
    """The pane's scripts and styles, from the allowlist (the dev stand-in for Office.js is not among them)."""
    found = PANE_ASSETS.get(name)
    if found is None:
        raise NotFound()
    response = send_static(found, max_age=300)
    response.headers["Content-Security-Policy"] = PANE_CSP
    return response


@bp.get("/assets/<name>")
def asset(name: str) -> Response:
    """Icons the manifest points at."""
    found = safe_join(str(ASSETS_DIR), name)
    if found is None or not Path(found).is_file():
        raise NotFound()
    return send_static(Path(found), max_age=86400)


@bp.get("/manifest.xml")
def manifest() -> Response:
    """The add-in manifest for this deployment (`ADDIN_API_PUBLIC_URL`, `ADDIN_API_CLIENT_ID`)."""
    base_url = _public_url()
    body = render_manifest(base_url, collaborators().settings.client_id)
    response = Response(body, mimetype="application/xml")
    response.headers["Content-Disposition"] = 'inline; filename="manifest.xml"'
    response.headers["Cache-Control"] = "no-cache"
    return response
