"""The dev harness at `/dev`: the task pane beside a simulated Outlook item and a live view of the emulated Dataverse.

Registered only by `addin-api dev` (and the browser tests), never by `create_app`. It reaches the devstack over HTTP
at a configured URL, like any other client, through the app's one `requests.Session` (which trusts the devstack CA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import NotFound

from addin_api import logs
from addin_api.api.taskpane import PANE_DIR, STATIC, send_static
from addin_api.model import LatestActivity
from addin_api.services.live_view import latest_activity
from addin_api.wiring import collaborators

# Its own static root, outside the pane's: production routes cannot reach these files by any spelling of a path.
HARNESS_DIR = STATIC / "dev"
HARNESS_ASSETS = {path.name: path for path in HARNESS_DIR.iterdir() if path.suffix in (".js", ".css")}
OFFICE_JS_URL = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"
STANDIN_URL = "/dev/office-standin.js"
EXTENSION = "addin_api_devharness"
HARNESS_CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'"

bp = Blueprint("devharness", __name__, url_prefix="/dev")


@dataclass(frozen=True)
class HarnessConfig:
    """Where the devstack listens."""

    devstack_url: str


def init_app(app: Flask, devstack_url: str | None = None) -> None:
    """Register the harness; `devstack_url` defaults to the configured authority host (the devstack in dev)."""
    url = devstack_url or collaborators_settings_url(app)
    app.extensions[EXTENSION] = HarnessConfig(url.rstrip("/"))
    # The harness polls its live view every few seconds: its own requests are logged at DEBUG, the pane's at INFO.
    app.extensions[logs.QUIET_PATHS] = (*app.extensions.get(logs.QUIET_PATHS, ()), "/dev")
    app.register_blueprint(bp)


def collaborators_settings_url(app: Flask) -> str:
    """The authority host the app was configured with (in dev the devstack plays Entra ID)."""
    with app.app_context():
        return collaborators().settings.authority_host


class DevstackUnreachable(Exception):
    """The devstack did not answer as expected."""


def _devstack(method: str, path: str, body: Any = None) -> requests.Response:
    config: HarnessConfig = current_app.extensions[EXTENSION]
    wired = collaborators()
    try:
        url = f"{config.devstack_url}{path}"
        return wired.session.request(
            method, url, json=body, timeout=wired.settings.timeout, verify=wired.session.verify
        )
    except requests.RequestException as exc:
        raise DevstackUnreachable(str(exc)) from exc


def _json_error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


@bp.errorhandler(DevstackUnreachable)
def _unreachable(error: DevstackUnreachable) -> Response:
    return _json_error(502, "the devstack did not answer; is `addin-api dev` still running?")


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Content-Security-Policy", HARNESS_CSP)
    return response


@bp.get("")
def harness() -> Response:
    """The harness page."""
    return send_static(HARNESS_DIR / "harness.html", max_age=0)


@bp.get("/pane")
def pane() -> Response:
    """The real task pane, with Office.js swapped for the stand-in."""
    html = (PANE_DIR / "taskpane.html").read_text(encoding="utf-8").replace(OFFICE_JS_URL, STANDIN_URL)
    return Response(html, mimetype="text/html")


@bp.get("/<name>")
def harness_asset(name: str) -> Response:
    """The harness's scripts and styles and the Office.js stand-in."""
    found = HARNESS_ASSETS.get(name)
    if found is None:
        raise NotFound()
    return send_static(found, max_age=0)


@bp.get("/api/users")
def users() -> Response:
    """The demo users and what each exercises."""
    found = _devstack("GET", "/_devstack/config")
    if found.status_code != 200:
        return _json_error(502, "the devstack refused the config request")
    keep = ("upn", "name", "scenario")
    return jsonify({"users": [{k: u.get(k) for k in keep} for u in found.json().get("users", [])]})


@bp.post("/api/token")
def token() -> Response:
    """A bootstrap token for a demo user, as Office would hand the pane (claims overrides for step-up)."""
    body = request.get_json(silent=True) or {}
    claims = body.get("claims") if isinstance(body.get("claims"), dict) else {}
    minted = _devstack("POST", "/_devstack/token", {"user": str(body.get("user", "")), "claims": claims})
    if minted.status_code != 200:
        return _json_error(400, "the devstack would not mint a token for that user")
    return jsonify({"access_token": minted.json()["access_token"]})


def _access(user: str) -> tuple[str, str] | None:
    """The user's environment URL and a Dataverse token the devstack mints for them, if they have both."""
    config = _devstack("GET", "/_devstack/config").json()
    tenant = next((u["tenantId"] for u in config.get("users", []) if u.get("upn") == user), None)
    environment = collaborators().settings.dataverse_urls.get(str(tenant))
    if environment is None:
        return None
    minted = _devstack("POST", "/_devstack/token", {"user": user, "audience": "dataverse"})
    if minted.status_code != 200:
        return None
    return environment, str(minted.json()["access_token"])


@bp.get("/api/activity")
def activity() -> Response:
    """The latest emails and appointments the user can see in the emulated Dataverse."""
    user = request.args.get("user", "")
    wired = collaborators()
    try:
        latest = latest_activity(wired.session, lambda: _access(user), wired.settings.timeout)
    except requests.RequestException as exc:
        raise DevstackUnreachable(str(exc)) from exc
    return jsonify({"items": [_activity_json(item) for item in latest]})


def _activity_json(item: LatestActivity) -> dict[str, str | None]:
    return {
        "type": item.type,
        "id": item.id,
        "subject": item.subject,
        "key": item.key,
        "createdOn": item.created_on,
        "regarding": item.regarding,
    }


@bp.post("/api/faults")
def add_fault() -> Response:
    """Make the emulated Dataverse fail next (throttling, outage) to see how the pane copes."""
    body = request.get_json(silent=True) or {}
    fault = {
        "target": "dataverse",
        "status": int(body.get("status", 429)),
        "retryAfter": int(body.get("retryAfter", 5)),
        "count": int(body.get("count", 1)),
        "path": str(body.get("path", ".*")),
    }
    answer = _devstack("POST", "/_devstack/faults", fault)
    return _json_error(answer.status_code, "fault not added") if answer.status_code != 201 else jsonify(fault)


@bp.delete("/api/faults")
def clear_faults() -> Response:
    """Remove injected faults."""
    _devstack("DELETE", "/_devstack/faults")
    return Response(status=204)


@bp.post("/api/reset")
def reset() -> Response:
    """Back to the seeded demo data."""
    _devstack("POST", "/_devstack/reset")
    return Response(status=204)


# -- the mailbox: a message arrives, the user categorizes it in "Outlook", the sync worker tracks it ----------------

TRACKED_CATEGORY = "Tracked to Dynamics 365"
INBOX_VIEW = "$select=subject,from,categories,receivedDateTime&$orderby=receivedDateTime desc&$top=8"


def _graph(user: str, method: str, path: str, body: Any = None) -> requests.Response:
    """Graph as the user in Outlook (a delegated token the devstack mints), for the harness's mailbox panel."""
    minted = _devstack("POST", "/_devstack/token", {"user": user, "audience": "graph"})
    if minted.status_code != 200:
        raise DevstackUnreachable("no Graph token for that user")
    config: HarnessConfig = current_app.extensions[EXTENSION]
    wired = collaborators()
    try:
        return wired.session.request(
            method,
            f"{config.devstack_url}/v1.0/me{path}",
            json=body,
            headers={"Authorization": f"Bearer {minted.json()['access_token']}"},
            timeout=wired.settings.timeout,
            verify=wired.session.verify,
        )
    except requests.RequestException as exc:
        raise DevstackUnreachable(str(exc)) from exc


@bp.get("/api/mail")
def inbox() -> Response:
    """The newest messages in the user's Inbox, with their categories."""
    found = _graph(request.args.get("user", ""), "GET", f"/mailFolders/inbox/messages?{INBOX_VIEW}")
    if found.status_code != 200:
        return _json_error(502, "the emulated Graph refused to list the Inbox")
    return jsonify(
        {
            "messages": [
                {
                    "id": m.get("id"),
                    "subject": m.get("subject"),
                    "from": ((m.get("from") or {}).get("emailAddress") or {}).get("address"),
                    "categories": m.get("categories") or [],
                }
                for m in found.json().get("value", [])
            ]
        }
    )


@bp.post("/api/mail/deliver")
def deliver() -> Response:
    """A message from outside the tenant arrives in the user's Inbox."""
    body = request.get_json(silent=True) or {}
    message = {
        "from": {"address": "dana@fabrikam.example", "name": "Dana Lin"},
        "to": [{"address": str(body.get("user", ""))}],
        "subject": str(body.get("subject") or "Quote for the Fabrikam renewal")[:200],
        "body": "<p>Could you send the updated quote before Friday?</p>",
        "bodyType": "html",
    }
    answer = _devstack("POST", "/_devstack/mail/deliver", message)
    return jsonify(answer.json()) if answer.status_code == 201 else _json_error(answer.status_code, "not delivered")


@bp.post("/api/mail/categorize")
def categorize() -> Response:
    """Give a message the tracking category (or take it away), as the user would in any Outlook."""
    body = request.get_json(silent=True) or {}
    user, message_id = str(body.get("user", "")), str(body.get("id", ""))
    if not message_id.replace("-", "").replace("_", "").replace("=", "").isalnum():
        return _json_error(400, "not a message id")
    found = _graph(user, "GET", f"/messages/{message_id}?$select=categories")
    if found.status_code != 200:
        return _json_error(404, "no such message")
    categories = [c for c in found.json().get("categories", []) if c != TRACKED_CATEGORY]
    if body.get("tracked", True):
        categories.append(TRACKED_CATEGORY)
    changed = _graph(user, "PATCH", f"/messages/{message_id}", {"categories": categories})
    return Response(status=204) if changed.status_code == 200 else _json_error(502, "the category was not changed")
