"""Regressions Schemathesis found: values the schemas let through but OData filters refuse were 500s; now 422."""

from __future__ import annotations

from conftest import ALICE, Api

from addin_api.devstack import seed


def test_a_tab_in_an_item_key_is_refused_before_any_dataverse_call(api: Api) -> None:
    """`internetMessageId` with a tab: 422 naming the field (was a 500 from the OData literal check)."""
    api.devstack.clear_log()
    response = api.get("/api/v1/emails?internetMessageId=%3Ca%09b%40example.org%3E")
    assert (422, ["internetMessageId"]) == (response.status_code, list(response.get_json()["errors"]))
    assert [] == api.dataverse_trips()


def test_a_control_character_in_an_address_is_refused(api: Api) -> None:
    """A recipient address with a BEL character: 422 on `to` (was a 500 when resolving parties)."""
    body = {
        "internetMessageId": "<findings-1@example.org>",
        "subject": "Hello",
        "from": {"address": seed.DANA_EMAIL},
        "to": [{"address": "a\u0007b@example.org"}, {"address": ALICE}],
        "sentAt": "2026-11-20T09:30:00Z",
    }
    response = api.post("/api/v1/emails", body)
    assert (422, {"to": {"0": {"address": ["must be an email address"]}}}) == (
        response.status_code,
        response.get_json()["errors"],
    )
