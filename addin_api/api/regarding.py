"""`GET /api/v1/regarding`: regarding candidates across tables in one `$batch`."""

from __future__ import annotations

from flask import Blueprint

from addin_api.api.common import dataverse
from addin_api.api.declare import AUTHENTICATED, Auth, declare
from addin_api.model import SearchRegarding, SearchResults
from addin_api.schemas import SearchArgs
from addin_api.schemas.responses import SearchResultsSchema
from addin_api.services.regarding import search

RESULTS = SearchResultsSchema()
bp = Blueprint("regarding", __name__, url_prefix="/api/v1")


@bp.get("/regarding")
@declare(
    "Regarding candidates across tables, or an account's open opportunities and cases (one $batch)",
    Auth.USER,
    response=RESULTS,
    query=SearchArgs(),
    errors=(*AUTHENTICATED, 404),
    tag="records",
)
def search_regarding(args: SearchRegarding) -> SearchResults:
    """Search accounts, contacts, leads, opportunities and cases by name, number or email, or list an account's
    open opportunities and active cases."""
    dv, _ = dataverse()
    return search(dv, args)
