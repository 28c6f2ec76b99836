"""The latest emails and appointments a user can see, newest first: the dev harness's live view of Dataverse.

A plain GET on the app's session, not through `DataverseClient`: a view that polls every few seconds must not
retry, wait out throttling or feed the metrics the pane's own calls feed, so an answer other than 200 reads as no
rows. Formatted values name each activity's regarding record.
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query/select-columns#formatted-values
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from addin_api.dataverse import odata
from addin_api.dataverse.activities import APPOINTMENT, EMAIL, ActivityKind
from addin_api.dataverse.client import API_PATH
from addin_api.model import LatestActivity

KINDS = (EMAIL, APPOINTMENT)
LATEST_ROWS = 8


def latest_query(kind: ActivityKind) -> str:
    """The GET (relative URL) of the table's latest rows with their regarding's display name."""
    params = {
        "$select": f"activityid,subject,{kind.key_column},createdon,_regardingobjectid_value",
        "$orderby": "createdon desc",
        "$top": str(LATEST_ROWS),
    }
    return f"{kind.entity_set}?{odata.query_string(params)}"


def read_latest(kind: ActivityKind, row: Mapping[str, Any]) -> LatestActivity:
    """One row of `latest_query` as the live view lists it."""
    return LatestActivity(
        type=kind.logical_name,
        id=row.get("activityid"),
        subject=row.get("subject"),
        key=row.get(kind.key_column) or None,
        created_on=row.get("createdon"),
        regarding=row.get("_regardingobjectid_value" + odata.FORMATTED),
    )


def get_latest(
    session: requests.Session, environment_url: str, token: str, kind: ActivityKind, timeout: tuple[float, float]
) -> list[LatestActivity]:
    """The table's latest rows as `token`'s user sees them; none when Dataverse does not answer 200.

    Raises `requests.RequestException` when Dataverse cannot be reached.
    """
    found = session.get(
        f"{environment_url}{API_PATH}{latest_query(kind)}",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "Prefer": odata.INCLUDE_ANNOTATIONS,
        },
        timeout=timeout,
        # Passed on, as requests otherwise lets REQUESTS_CA_BUNDLE override the session's CA bundle.
        verify=session.verify,
    )
    if found.status_code != 200:
        return []
    return [read_latest(kind, row) for row in found.json().get("value", [])]
