"""A stand-in for the Dynamics 365 web client's record form: `GET /main.aspx?etn=<table>&id=<guid>`.

The pane's "View in Dynamics 365" and "Open in Dynamics 365" links point at the environment's
`main.aspx?etn=…&pagetype=entityrecord&id=…`; in dev the environment is the devstack, so it answers that address
with a plain page naming the record and its column values. Only the devstack serves it.
https://learn.microsoft.com/en-us/power-apps/developer/model-driven-apps/open-forms-views-dialogs-reports-url
"""

from __future__ import annotations

import uuid
from html import escape

from flask import Blueprint, Flask, Response, request

from addin_api.devstack.dataverse.metadata import TABLES
from addin_api.devstack.state import current_state

bp = Blueprint("devstack_webclient", __name__)

PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
STYLE = (
    "body{font:14px 'Segoe UI',system-ui,sans-serif;margin:0;color:#242424}"
    "header{background:#002050;color:#fff;padding:10px 16px}main{padding:16px}"
    "table{border-collapse:collapse}td,th{text-align:left;padding:4px 12px 4px 0;border-bottom:1px solid #eee}"
    "th{color:#616161;font-weight:normal}"
)


def _page(status: int, title: str, body: str) -> Response:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><header>Dynamics 365 · devstack stand-in</header>"
        f"<main>{body}</main></body></html>"
    )
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_CSP
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/main.aspx")
def record_form() -> Response:
    """The record named by `etn` and `id`: its table, primary name and column values."""
    table = TABLES.get(request.args.get("etn", ""))
    try:
        record_id = str(uuid.UUID(request.args.get("id", "").strip("{}")))
    except ValueError:
        record_id = ""
    if table is None or not record_id:
        return _page(404, "Record not found", "<h1>Record not found</h1><p>Unknown table or record id.</p>")
    record = current_state().dataverse.get(table.logical, record_id)
    label = table.display[0] if table.display and table.display[0] else table.logical
    if record is None:
        return _page(404, "Record not found", f"<h1>{escape(label)} not found</h1><p>{escape(record_id)}</p>")
    name = str(record.get(table.primary_name) or "(no name)")
    rows = "".join(
        f"<tr><th>{escape(column)}</th><td>{escape(str(value))}</td></tr>"
        for column, value in sorted(record.items())
        if isinstance(value, str | int | float | bool) and "@" not in column
    )
    body = (
        f'<p class="table">{escape(label)}</p><h1 id="record-name">{escape(name)}</h1>'
        f'<p>Record id <code id="record-id">{escape(record_id)}</code></p><table>{rows}</table>'
    )
    return _page(200, f"{name} · {label}", body)


def init_app(app: Flask) -> None:
    """Register the form stand-in on the devstack app."""
    app.register_blueprint(bp)
