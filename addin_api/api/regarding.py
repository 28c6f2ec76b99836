"""`GET /api/v1/regarding`: regarding candidates across tables in one `$batch`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from addin_api.api.common import dataverse
from addin_api.api.declare import AUTHENTICATED, Auth, declare
from addin_api.dataverse.tables import REGARDING_TABLES
from addin_api.schemas import SearchArgs
from addin_api.schemas.responses import SearchResultsSchema
from addin_api.services.regarding import for_account, search

bp = Blueprint("regarding", __name__, url_prefix="/api/v1")


@bp.get("/regarding")
@declare(
    "Regarding candidates across tables, or an account's open opportunities and cases (one $batch)",
    Auth.USER,
    response=SearchResultsSchema(),
    query=SearchArgs(),
    errors=(*AUTHENTICATED, 404),
    tag="records",
)
def search_regarding(args: dict[str, Any]) -> Response:
    """Search accounts, contacts, leads, opportunities and cases by name, number or email, or list an account's
    open opportunities and active cases."""
    names = list(dict.fromkeys(t.strip() for t in args["tables"].split(",") if t.strip()))
    dv, _ = dataverse()
    tables = [REGARDING_TABLES[n] for n in names]
    if "account" in args:
        results = for_account(dv, str(args["account"]), tables, args["top"])
    else:
        results = search(dv, args["search"], tables, args["top"])
    return jsonify({"results": results})
