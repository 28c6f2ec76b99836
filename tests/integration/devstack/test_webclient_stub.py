"""The devstack's stand-in for the web client's record form, behind the pane's "View in Dynamics 365" links."""

from __future__ import annotations

from conftest import Devstack

from addin_api.devstack import seed


def test_record_form_shows_the_record(devstack: Devstack) -> None:
    """`main.aspx?etn=contact&id=…` names the contact and its columns; it is not logged as a Dataverse call."""
    devstack.clear_log()
    environment = devstack.config["environmentUrl"]
    response = devstack.http.get(
        f"{environment}/main.aspx",
        params={"etn": "contact", "pagetype": "entityrecord", "id": seed.DANA_CONTACT_ID},
        timeout=10,
    )
    assert (200, "text/html; charset=utf-8") == (response.status_code, response.headers["Content-Type"])
    assert '<h1 id="record-name">Dana Smith</h1>' in response.text
    assert "Purchasing Manager" in response.text
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert [] == devstack.requests_log()


def test_record_form_refuses_unknown_tables_and_ids_and_escapes_names(devstack: Devstack) -> None:
    """Unknown table, bad id or missing record: 404 pages; a record's name is HTML-escaped."""
    environment = devstack.config["environmentUrl"]
    for params in (
        {"etn": "nosuchtable", "id": seed.DANA_CONTACT_ID},
        {"etn": "contact", "id": "<script>"},
        {"etn": "contact", "id": "00000000-0000-4000-8000-000000000099"},
    ):
        response = devstack.http.get(f"{environment}/main.aspx", params=params, timeout=10)
        assert 404 == response.status_code
        assert "<script>" not in response.text
    obrien = devstack.http.get(
        f"{environment}/main.aspx", params={"etn": "account", "id": seed.OBRIEN_ACCOUNT_ID}, timeout=10
    )
    assert "O&#x27;Brien &amp; Sons" in obrien.text
