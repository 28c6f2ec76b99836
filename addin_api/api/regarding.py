"""`GET /api/v1/regarding`: regarding candidates across tables in one `$batch`."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from addin_api.api.common import dataverse, parse, query_args
from addin_api.auth.decorators import require_user
from addin_api.schemas import SearchArgs
from addin_api.schemas.responses import SearchResultsSchema
from addin_api.services.model import SearchRegarding
from addin_api.services.regarding import search

ARGS = SearchArgs()
RESULTS = SearchResultsSchema()
bp = Blueprint("regarding", __name__, url_prefix="/api/v1")


@bp.get("/regarding")
@require_user
def search_regarding() -> Response:
    """Search accounts, contacts, leads, opportunities and cases by name, number or email, or list an account's
    open opportunities and active cases."""
    args = parse(ARGS, query_args())
    tables = tuple(t.strip() for t in args["tables"].split(",") if t.strip())
    account = str(args["account"]) if "account" in args else None
    command = SearchRegarding(tables, args["top"], args.get("search"), account)
    dv, _ = dataverse()
    return jsonify(RESULTS.dump(search(dv, command)))
