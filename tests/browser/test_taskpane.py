"""The task pane in Chromium against the real service, real token validation, real OBO and the emulated Dataverse.

The pane loads Office.js from Microsoft's CDN; the browser answers that request with the dev stand-in
(`addin_api/static/dev/office-standin.js`), whose `getAccessToken` returns a token minted by the devstack
through the dev harness's token route. Everything behind the pane is real: the service, token validation, OBO and
the emulated Dataverse. One Chromium for the session (Debian's, never `playwright install`; `make test` installs it);
a missing browser fails these tests, never skips them.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import requests
from browser_support import PANE_WIDTH, SCREENSHOTS, Pane
from conftest import ALICE, Api, Devstack

from addin_api.devstack.identity import DEFAULT_AZP
from addin_api.devstack.seed import (
    ADVENTURE_WORKS_ACCOUNT_ID,
    FABRIKAM_ACCOUNT_ID,
    FABRIKAM_OPPORTUNITY_ID,
    TRACKED_EMAIL_MESSAGE_ID,
)
from addin_api.settings import Settings

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture reports it as a failure
    expect = None


TRACKED = "Tracked to Dynamics 365"
UNDELIVERABLE = "Tracked to Dynamics 365 (Undeliverable)"
ADD_IN_NOT_ALLOWED = (
    "Track and Set Regarding are currently disabled. To use these features, please contact your admin. "
    "You can still view and interact with your Dynamics 365 data."
)
DANA_MESSAGE_ID = "<CAF-standin-0001@mail.fabrikam.example>"
SENDER_MATCHES = ".person[data-role=from] .person-matches > li"


def email_status(api: Api, message_id: str, user: str = ALICE) -> dict[str, Any]:
    """The service's tracking status of a message."""
    response = api.get(f"/api/v1/emails?internetMessageId={quote(message_id)}", user)
    assert 200 == response.status_code
    body: dict[str, Any] = response.get_json()
    return body


def test_track_without_regarding_applies_the_category_and_opens_dynamics(open_pane: Any, api: Api) -> None:
    """Track without regarding: the email lands in Dataverse, the item gets the category, View opens the record."""
    pane = open_pane(sample="dana-read")
    pane.wait_loaded()
    expect(pane.page.locator("#status-untracked")).to_be_visible()
    expect(pane.page.locator(SENDER_MATCHES)).to_have_count(2)
    pane.shot("01-untracked-known-sender")

    pane.page.get_by_role("button", name="Track without regarding").click()
    expect(pane.page.locator("#status-tracked")).to_be_visible()
    expect(pane.page.locator("#tracked-regarding")).to_have_text("none")
    assert "Tracked to Dynamics 365." == pane.message()
    assert [TRACKED] == pane.categories()
    assert TRACKED in pane.master_categories()
    pane.shot("02-tracked-without-regarding")

    status = email_status(api, DANA_MESSAGE_ID)
    assert (True, None) == (status["tracked"], status["regarding"])

    pane.page.evaluate("() => { window.__opened = []; window.open = (url) => { window.__opened.push(url); }; }")
    pane.page.get_by_role("button", name="View in Dynamics 365").click()
    assert [status["url"]] == pane.page.evaluate("() => window.__opened")


def test_search_with_the_keyboard_then_track_with_regarding(open_pane: Any, api: Api) -> None:
    """A debounced search across tables; the chosen record becomes the regarding of the tracked email."""
    pane = open_pane(sample="dana-read")
    pane.wait_loaded()
    search = pane.page.get_by_label("Search accounts, contacts, leads, opportunities and cases")
    search.focus()
    pane.page.keyboard.type("Fabrikam")
    first = pane.page.locator("#regarding-results button").first
    expect(first).to_contain_text("Fabrikam, Inc.")
    expect(pane.page.locator("#regarding-results")).to_contain_text("Opportunity")
    pane.shot("03-regarding-search")
    typed = [path for _, path in pane.api_requests if re.match(r"regarding\?search=F[a-z]*&tables=account%2C", path)]
    assert ["regarding?search=Fabrikam&tables=account%2Ccontact%2Clead%2Copportunity%2Cincident&top=10"] == typed, (
        "typing is debounced into one search"
    )

    pane.page.keyboard.press("ArrowDown")
    expect(first).to_be_focused()
    pane.page.keyboard.press("Enter")
    expect(pane.page.locator("#regarding-chosen-name")).to_have_text("Fabrikam, Inc. · Account")
    expect(pane.page.get_by_role("button", name="Track", exact=True)).to_be_focused()
    pane.page.keyboard.press("Enter")

    expect(pane.page.locator("#tracked-regarding")).to_have_text("Fabrikam, Inc. · Account")
    pane.shot("04-tracked-with-regarding")
    status = email_status(api, DANA_MESSAGE_ID)
    assert ("account", FABRIKAM_ACCOUNT_ID) == (status["regarding"]["table"], status["regarding"]["id"])
    assert [TRACKED] == pane.categories()


def test_track_asks_for_a_regarding_when_none_is_chosen(open_pane: Any) -> None:
    """Track (with regarding) and nothing chosen: the pane points at the search instead of tracking."""
    pane = open_pane(sample="dana-read")
    pane.wait_loaded()
    pane.page.get_by_role("button", name="Track", exact=True).click()
    assert pane.message().startswith("Choose the record this is regarding")
    expect(pane.page.locator("#regarding-search")).to_be_focused()
    assert [] == [m for m, _ in pane.api_requests if m == "POST"]


def test_change_regarding_then_untrack_removes_the_category(open_pane: Any, api: Api) -> None:
    """An already tracked email: change its regarding, then untrack it (the category goes with it)."""
    pane = open_pane(sample="seeded-tracked", item={"categories": [{"displayName": TRACKED, "color": "Preset7"}]})
    pane.wait_loaded()
    expect(pane.page.locator("#tracked-regarding")).to_have_text("Fabrikam, Inc. · Account")
    pane.shot("05-already-tracked")

    pane.page.get_by_role("button", name="Change regarding").click()
    pane.page.locator("#regarding-search").fill("Adventure Works")
    pane.page.locator("#regarding-results button[data-table=account]", has_text="Adventure Works Cycles").click()
    expect(pane.page.locator("#tracked-regarding")).to_have_text("Adventure Works Cycles · Account")
    status = email_status(api, TRACKED_EMAIL_MESSAGE_ID)
    assert ADVENTURE_WORKS_ACCOUNT_ID == status["regarding"]["id"]

    pane.page.get_by_role("button", name="Untrack", exact=True).click()
    pane.page.get_by_role("button", name="Untrack and delete").click()
    expect(pane.page.locator("#status-untracked")).to_be_visible()
    assert [] == pane.categories()
    pane.shot("06-untracked")
    assert {"tracked": False} == email_status(api, TRACKED_EMAIL_MESSAGE_ID)


def test_add_an_unknown_sender_as_a_contact(open_pane: Any, api: Api) -> None:
    """An unknown sender: Add as contact creates the contact and the card shows it."""
    pane = open_pane(sample="unknown-sender")
    pane.wait_loaded()
    expect(pane.page.locator(".person[data-role=from] .person-unknown")).to_be_visible()
    pane.shot("07-unknown-sender")

    pane.page.get_by_role("button", name="Add as contact").click()
    expect(pane.page.locator("#create-firstname")).to_have_value("Sam")
    expect(pane.page.locator("#create-lastname")).to_have_value("Taylor")
    expect(pane.page.locator("#create-emailaddress1")).to_have_value("sam.taylor@newco.example")
    pane.page.get_by_role("button", name="Save and track").click()
    expect(pane.page.locator("#tracked-regarding")).to_have_text("Sam Taylor · Contact")
    expect(pane.page.locator(SENDER_MATCHES)).to_contain_text("Sam Taylor")
    assert "Tracked regarding Sam Taylor." == pane.message()
    pane.shot("08-contact-added")
    card = api.get("/api/v1/people?email=sam.taylor@newco.example").get_json()
    assert [("contact", "Sam Taylor")] == [(m["table"], m["name"]) for m in card["matches"]]
    status = api.get("/api/v1/emails?internetMessageId=%3CNC-standin-0002%40mail.newco.example%3E").get_json()
    assert (card["matches"][0]["id"], "contact") == (status["regarding"]["id"], status["regarding"]["table"])


def test_claims_challenge_is_answered_once_with_a_stepped_up_token(open_pane: Any) -> None:
    """Dave's OBO needs MFA: the pane asks Office once with the claims and carries on."""
    pane = open_pane(user="dave@contoso.example", sample="dana-read")
    pane.wait_loaded()
    expect(pane.page.locator("#status-untracked")).to_be_visible()
    requests = pane.standin()["tokenRequests"]
    assert [False, True] == [r["authChallenge"] is not None for r in requests]
    assert isinstance(requests[1]["authChallenge"], str) and requests[1]["authChallenge"].strip()

    pane.page.get_by_role("button", name="Track without regarding").click()
    expect(pane.page.locator("#status-tracked")).to_be_visible()
    assert 2 == len(pane.standin()["tokenRequests"]), "the stepped-up token is reused, not re-challenged"


def test_consent_required_explains_what_to_do(open_pane: Any) -> None:
    """Erin has not consented: the pane explains instead of failing obscurely."""
    pane = open_pane(user="erin@contoso.example")
    assert re.search(r"needs your consent", pane.message())
    expect(pane.page.locator("#status-tracked")).to_be_hidden()
    pane.shot("09-consent-required")


def test_add_in_not_allowed_disables_track_and_set_regarding(open_pane: Any) -> None:
    """Bob lacks prvUseOfficeApps: Dynamics' own wording, writes disabled, his data still visible."""
    pane = open_pane(user="bob@contoso.example")
    pane.wait_loaded()
    assert ADD_IN_NOT_ALLOWED == pane.message()
    expect(pane.page.get_by_role("button", name="Track", exact=True)).to_be_disabled()
    expect(pane.page.get_by_role("button", name="Track without regarding")).to_be_disabled()
    expect(pane.page.locator("#regarding-card")).to_be_hidden()
    expect(pane.page.locator(SENDER_MATCHES)).to_have_count(2)
    pane.shot("10-add-in-not-allowed")


def test_add_in_not_allowed_on_a_write_disables_the_buttons(open_pane: Any) -> None:
    """If the privilege is withdrawn after the pane loaded, the refused write disables the buttons too."""
    pane = open_pane(user="bob@contoso.example")
    pane.wait_loaded()
    pane.page.evaluate("() => { document.querySelectorAll('button').forEach(b => b.disabled = false); }")
    pane.page.get_by_role("button", name="Track without regarding").click()
    expect(pane.page.get_by_role("button", name="Track without regarding")).to_be_disabled()
    assert ADD_IN_NOT_ALLOWED == pane.message()
    assert [] == pane.categories()


def test_throttled_track_waits_out_retry_after_once(open_pane: Any, devstack: Devstack, api: Api) -> None:
    """Dataverse throttles: the pane counts down Retry-After, retries once, and the track lands."""
    pane = open_pane(sample="dana-read")
    pane.wait_loaded()
    # Longer than the service's own short-wait retry, so the 429 reaches the pane.
    devstack.fault(target="dataverse", path=r"\$batch", status=429, retryAfter=4, count=1)
    pane.page.get_by_role("button", name="Track without regarding").click()
    expect(pane.page.locator("#message-countdown")).to_contain_text("Trying again in")
    assert "Dynamics 365 is busy right now." == pane.message()
    pane.shot("11-throttled-countdown")

    expect(pane.page.locator("#status-tracked")).to_be_visible(timeout=15_000)
    posts = [path for method, path in pane.api_requests if method == "POST"]
    assert ["emails", "emails"] == posts, "one retry, after the wait"
    assert [TRACKED] == pane.categories()
    assert email_status(api, DANA_MESSAGE_ID)["tracked"] is True


def test_offline_and_server_errors_mark_the_item_undeliverable(open_pane: Any) -> None:
    """A network failure or a 5xx: plain words, a Try again button, and the Undeliverable category."""
    pane = open_pane(sample="dana-read")
    pane.wait_loaded()

    def offline(route: Any) -> None:
        if route.request.method == "POST":
            route.abort("internetdisconnected")
        else:
            route.continue_()

    pane.page.route("**/api/v1/emails", offline)
    pane.page.get_by_role("button", name="Track without regarding").click()
    assert "Can't reach the service. Check your connection and try again." == pane.message()
    expect(pane.page.get_by_role("button", name="Try again")).to_be_visible()
    # The pane shows the message first and then applies the category.
    pane.page.wait_for_function("() => window.OfficeStandin.state.itemCategories.length > 0")
    assert [UNDELIVERABLE] == pane.categories()
    pane.shot("12-offline")

    pane.page.unroute("**/api/v1/emails")
    pane.page.route(
        "**/api/v1/emails",
        lambda route: route.fulfill(
            status=503,
            content_type="application/problem+json",
            headers={"Retry-After": "30"},
            body='{"status":503,"code":"dataverse_unavailable","title":"Unavailable","detail":"x"}',
        ),
    )
    pane.page.get_by_role("button", name="Try again").click()
    expect(pane.page.locator("#message-text")).to_have_text(
        "Dynamics 365 isn't available right now. Please try again in a few minutes."
    )

    pane.page.unroute("**/api/v1/emails")
    pane.page.get_by_role("button", name="Try again").click()
    expect(pane.page.locator("#status-tracked")).to_be_visible()
    assert [TRACKED] == pane.categories(), "a successful track replaces the Undeliverable category"


def test_track_an_appointment_as_an_attendee(open_pane: Any, api: Api) -> None:
    """A meeting invitation: tracked as an appointment with its organizer and attendees."""
    pane = open_pane(sample="appointment-attendee")
    pane.wait_loaded()
    expect(pane.page.locator("#people")).to_contain_text("Maria Garcia")
    pane.page.get_by_role("button", name="Track without regarding").click()
    expect(pane.page.locator("#status-tracked")).to_be_visible()
    assert [TRACKED] == pane.categories()
    pane.shot("13-appointment-tracked")

    status = api.get("/api/v1/appointments?globalObjectId=AAMk-standin-appt-0001_a").get_json()
    assert status["tracked"] is True
    roles = {(p["role"], p["address"]) for p in status["parties"]}
    assert ("organizer", "maria@adventure-works.example") in roles


def test_track_an_appointment_being_organized_with_regarding(open_pane: Any, api: Api) -> None:
    """A meeting the user organizes (compose mode): regarding chosen by search, then tracked."""
    pane = open_pane(sample="appointment-organizer")
    pane.wait_loaded()
    expect(pane.page.locator("#people")).to_contain_text("dana@fabrikam.example")
    pane.page.locator("#regarding-search").fill("Fabrikam, Inc")
    pane.page.locator("#regarding-results button[data-table=account]", has_text="Fabrikam, Inc.").click()
    pane.page.get_by_role("button", name="Track", exact=True).click()
    expect(pane.page.locator("#tracked-regarding")).to_have_text("Fabrikam, Inc. · Account")
    status = api.get("/api/v1/appointments?globalObjectId=AAMk-standin-appt-0002_o").get_json()
    assert FABRIKAM_ACCOUNT_ID == status["regarding"]["id"]


def test_compose_message_is_offered_to_be_tracked_once_sent(open_pane: Any) -> None:
    """A message being written has no Message-ID yet: it can be marked, and without a mailbox sync sharing the
    service's state the pane says how to track it instead; nothing is written into the message."""
    pane = open_pane(sample="compose")
    pane.wait_loaded()
    expect(pane.page.locator("#compose-note")).to_have_text(
        "Track it now: it is tracked to Dynamics 365 once it is sent."
    )
    expect(pane.page.locator("#people")).to_contain_text("Dana Smith")
    pane.page.get_by_role("button", name="Track without regarding").click()
    expect(pane.page.locator("#message")).to_contain_text("Track it from Sent Items once it is sent")
    assert {} == pane.standin()["internetHeaders"]


def test_pane_config_names_the_api_scope_and_the_naa_client(live_service: str, service_settings: Settings) -> None:
    """/taskpane/config.json: what MSAL needs; the NAA client defaults to the add-in's own registration."""
    response = requests.get(f"{live_service}/taskpane/config.json", timeout=10)
    assert (200, "no-cache") == (response.status_code, response.headers["Cache-Control"])
    client_id = service_settings.client_id
    config = response.json()
    assert {
        "clientId": client_id,
        "apiScope": f"api://127.0.0.1:5000/{client_id}/access_as_user",
        "naaClientId": client_id,
    } == {k: config[k] for k in ("clientId", "apiScope", "naaClientId")}
    assert client_id in service_settings.allowed_client_apps, "NAA tokens (azp = the pane's id) are accepted"
    vendor = requests.get(f"{live_service}/taskpane/vendor/msal-browser.min.js", timeout=10)
    assert 200 == vendor.status_code
    assert vendor.text.startswith("/*! @azure/msal-browser v4.")


def test_without_naa_the_pane_uses_office_sso_and_never_loads_msal(open_pane: Any) -> None:
    """A host without NestedAppAuth 1.1: getAccessToken as before, and msal-browser is not even downloaded."""
    pane = open_pane(sample="dana-read")
    pane.wait_loaded()
    expect(pane.page.locator("#status-untracked")).to_be_visible()
    assert 1 == len(pane.standin()["tokenRequests"])
    assert ([], []) == (pane.bridge_methods(), pane.vendor_requests)
    assert "undefined" == pane.page.evaluate("() => typeof window.msal")
    assert {DEFAULT_AZP} == pane.token_clients(), "Office's client app, not the pane's own registration"


def test_naa_host_tracking_uses_msal_through_the_bridge(open_pane: Any, api: Api, service_settings: Settings) -> None:
    """NestedAppAuth 1.1: MSAL gets the token through the host's bridge (no getAccessToken); tracking works."""
    pane = open_pane(sample="dana-read", standin={"naa": True})
    pane.wait_loaded()
    pane.page.get_by_role("button", name="Track without regarding").click()
    expect(pane.page.locator("#status-tracked")).to_be_visible()
    assert [TRACKED] == pane.categories()
    assert email_status(api, DANA_MESSAGE_ID)["tracked"] is True

    state = pane.standin()
    assert [] == state["tokenRequests"], "Office.auth.getAccessToken is not used"
    assert ["GetInitContext", "GetToken"] == pane.bridge_methods(), "one silent token, reused"
    token_request = state["bridgeRequests"][1]
    assert service_settings.nested_app_client_id == token_request["clientId"]
    assert token_request["scope"].endswith(f"/{service_settings.client_id}/access_as_user")
    assert token_request["claims"] is None
    assert ["msal-browser.min.js"] == pane.vendor_requests
    assert {service_settings.nested_app_client_id} == pane.token_clients(), "the NAA token's azp is the pane's id"
    pane.shot("15-naa-tracked")


def test_naa_claims_challenge_is_answered_once_with_the_claims(open_pane: Any) -> None:
    """Dave's OBO needs MFA: MSAL asks the bridge once more, with the service's claims, and the pane carries on."""
    pane = open_pane(user="dave@contoso.example", sample="dana-read", standin={"naa": True})
    pane.wait_loaded()
    expect(pane.page.locator("#status-untracked")).to_be_visible()
    requests_ = pane.standin()["bridgeRequests"]
    assert ["GetInitContext", "GetToken", "GetToken"] == [r["method"] for r in requests_]
    assert requests_[1]["claims"] is None
    assert "access_token" in json.loads(requests_[2]["claims"]), "the service's claims challenge, as MSAL sends it"
    assert [] == pane.standin()["tokenRequests"]

    pane.page.get_by_role("button", name="Track without regarding").click()
    expect(pane.page.locator("#status-tracked")).to_be_visible()
    assert 3 == len(pane.standin()["bridgeRequests"]), "the stepped-up token is reused, not re-challenged"


def test_naa_interaction_required_falls_to_the_hosts_prompt(open_pane: Any) -> None:
    """The silent request needs the user (consent, sign-in): MSAL's popup request goes to the host."""
    pane = open_pane(standin={"naa": True, "naaSilentError": "USER_INTERACTION_REQUIRED"})
    pane.wait_loaded()
    expect(pane.page.locator("#status-untracked")).to_be_visible()
    assert ["GetInitContext", "GetToken", "GetTokenPopup"] == pane.bridge_methods()
    assert [] == pane.standin()["tokenRequests"]


def test_naa_user_cancelling_the_prompt_is_not_retried_with_office_sso(open_pane: Any) -> None:
    """The user closes the host's sign-in prompt: the pane says so instead of prompting again another way."""
    pane = open_pane(
        standin={"naa": True, "naaSilentError": "USER_INTERACTION_REQUIRED", "naaPopupError": "USER_CANCEL"}
    )
    assert pane.message().startswith("We couldn't sign you in to Dynamics 365 (user_canceled)")
    assert [] == pane.standin()["tokenRequests"]


def test_naa_bridge_failure_falls_back_to_office_sso(open_pane: Any) -> None:
    """The bridge fails for another reason: the pane falls back to getAccessToken and keeps working."""
    pane = open_pane(standin={"naa": True, "naaSilentError": "PERSISTENT_ERROR"})
    pane.wait_loaded()
    expect(pane.page.locator("#status-untracked")).to_be_visible()
    assert ["GetInitContext", "GetToken"] == pane.bridge_methods()
    assert 1 == len(pane.standin()["tokenRequests"])
    pane.page.get_by_role("button", name="Track without regarding").click()
    expect(pane.page.locator("#status-tracked")).to_be_visible()
    assert ["GetInitContext", "GetToken"] == pane.bridge_methods(), "NAA is not tried again in this pane"


def test_naa_set_without_a_working_bridge_uses_office_sso(open_pane: Any) -> None:
    """The set is reported but the bridge is missing: msal-browser's standard client is not used, getAccessToken is."""
    pane = open_pane(standin={"naa": True, "naaWithoutBridge": True})
    pane.wait_loaded()
    expect(pane.page.locator("#status-untracked")).to_be_visible()
    assert ([], 1) == (pane.bridge_methods(), len(pane.standin()["tokenRequests"]))
    assert {DEFAULT_AZP} == pane.token_clients()


def test_dev_harness_shows_what_landed_in_dataverse(browser: Any, live_service: str) -> None:
    """/dev: the pane in a frame with the stand-in; tracking there shows up in the live Dataverse list."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live_service}/dev")
        pane = page.frame_locator("#pane")
        pane.locator("#status-untracked").wait_for(state="visible", timeout=15_000)
        pane.get_by_role("button", name="Track without regarding").click()
        pane.locator("#status-tracked").wait_for(state="visible")
        expect(page.locator("#live-items")).to_contain_text("Laptop refresh: revised quote", timeout=10_000)
        expect(page.locator("#item-categories")).to_contain_text(TRACKED)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "14-dev-harness.png"))
    finally:
        context.close()


def test_dev_harness_switches_the_host_to_nested_app_authentication(browser: Any, live_service: str) -> None:
    """/dev: the NAA switch reloads the pane on a host with the bridge; its token comes through MSAL."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live_service}/dev")
        page.frame_locator("#pane").locator("#status-untracked").wait_for(state="visible", timeout=15_000)
        with page.expect_event("framenavigated", predicate=lambda f: "naa=1" in f.url, timeout=15_000) as reloaded:
            page.get_by_label("Nested app authentication (MSAL)").check()
        frame = reloaded.value
        frame.locator("#status-untracked").wait_for(state="visible", timeout=15_000)
        state = frame.evaluate("() => JSON.parse(JSON.stringify(window.OfficeStandin.state))")
        assert ["GetInitContext", "GetToken"] == [r["method"] for r in state["bridgeRequests"]]
        assert [] == state["tokenRequests"]
    finally:
        context.close()


SEARCH_LABEL = "Search accounts, contacts, leads, opportunities and cases"


def patch_json(url_glob: str, change: Any) -> Any:
    """A `before` hook: answer `url_glob` with the real response's JSON changed by `change`."""

    def before(page: Any) -> None:
        def handle(route: Any) -> None:
            response = route.fetch()
            body = change(response.json())
            route.fulfill(response=response, body=json.dumps(body), content_type="application/json")

        page.route(url_glob, handle)

    return before


# ---------------------------------------------------------------- safety and state


def test_untrack_asks_before_deleting_the_activity(open_pane: Any, api: Api) -> None:
    """Untrack deletes the activity, so the pane asks first; Cancel keeps it, confirming deletes it."""
    pane = open_pane(sample="seeded-tracked", item={"categories": [{"displayName": TRACKED, "color": "Preset7"}]})
    pane.wait_loaded()
    pane.page.get_by_role("button", name="Untrack", exact=True).click()
    expect(pane.page.locator("#untrack-confirm")).to_contain_text("deletes the activity from Dynamics 365")
    expect(pane.page.get_by_role("button", name="Cancel")).to_be_focused()
    pane.shot("20-untrack-confirm")
    pane.page.get_by_role("button", name="Cancel").click()
    expect(pane.page.locator("#untrack-confirm")).to_be_hidden()
    assert [] == [path for method, path in pane.api_requests if method == "DELETE"]
    assert email_status(api, TRACKED_EMAIL_MESSAGE_ID)["tracked"] is True

    pane.page.get_by_role("button", name="Untrack", exact=True).click()
    pane.page.get_by_role("button", name="Untrack and delete").click()
    expect(pane.page.locator("#status-untracked")).to_be_visible()
    assert {"tracked": False} == email_status(api, TRACKED_EMAIL_MESSAGE_ID)
    assert [] == pane.categories()


def test_read_only_role_refused_once_disables_writes_without_undeliverable(open_pane: Any) -> None:
    """A role that changed since `me` (track still offered): the refused track turns writes off, says why, and
    does not mark the item Undeliverable."""
    stale = patch_json("**/api/v1/me", lambda me: {**me, "features": {**me["features"], "track": True}})
    pane = open_pane(user="carol@contoso.example", before=stale)
    pane.wait_loaded()
    pane.page.get_by_role("button", name="Track without regarding").click()
    assert "Your security role lets you view Dynamics 365 data but not track items" in pane.message()
    expect(pane.page.get_by_role("button", name="Track without regarding")).to_be_disabled()
    expect(pane.page.locator("#regarding-card")).to_be_hidden()
    expect(pane.page.locator(SENDER_MATCHES)).to_have_count(2)
    expect(pane.page.get_by_role("button", name="Set regarding to Dana Smith").first).to_be_disabled()
    assert [] == pane.categories()
    pane.shot("21-read-only-refused")


def test_writes_are_disabled_up_front_when_me_says_no_tracking(open_pane: Any) -> None:
    """Carol's role cannot create activities: `me` says so and the buttons are disabled before any click."""
    pane = open_pane(user="carol@contoso.example")
    pane.wait_loaded()
    expect(pane.page.locator("#readonly-note")).to_be_visible()
    expect(pane.page.get_by_role("button", name="Track", exact=True)).to_be_disabled()
    expect(pane.page.get_by_role("button", name="Track without regarding")).to_be_disabled()
    expect(pane.page.locator("#readonly-note")).to_contain_text("not track items or create records")
    expect(pane.page.locator("#regarding-card")).to_be_hidden()
    assert [] == [m for m, _ in pane.api_requests if m != "GET"]
    pane.shot("22-read-only-up-front")


def test_an_item_found_already_tracked_gets_the_category(open_pane: Any) -> None:
    """Tracked elsewhere (another device, server-side sync): opening the pane applies the category to the item."""
    pane = open_pane(sample="seeded-tracked")
    pane.wait_loaded()
    expect(pane.page.locator("#status-tracked")).to_be_visible()
    pane.page.wait_for_function("() => window.OfficeStandin.state.itemCategories.length > 0")
    assert [TRACKED] == pane.categories()


def test_a_step_up_is_shown(open_pane: Any) -> None:
    """Dave's organization asks for MFA: after the claims challenge is answered the pane says it happened."""
    pane = open_pane(user="dave@contoso.example")
    pane.wait_loaded()
    expect(pane.page.locator("#stepup-note")).to_contain_text("extra sign-in step")
    pane.shot("23-stepped-up")


def test_consent_required_offers_a_way_forward(open_pane: Any, service_settings: Settings) -> None:
    """Erin has not consented: a button asks again with the consent prompt, and a link is there for her admin."""
    pane = open_pane(user="erin@contoso.example")
    assert "needs your consent" in pane.message()
    link = pane.page.get_by_role("link", name="Admin: grant consent for the organization")
    href = link.get_attribute("href")
    assert href is not None
    assert re.fullmatch(
        rf"https://login\.microsoftonline\.com/[0-9a-f-]{{36}}/adminconsent\?client_id={service_settings.client_id}",
        href,
    )
    pane.shot("24-consent-required")
    tokens = len(pane.standin()["tokenRequests"])
    # the pane asks for a token with the consent prompt, then calls the API again with it
    with pane.page.expect_request(lambda r: r.url.split("?")[0].endswith("/api/v1/me"), timeout=15_000):
        pane.page.get_by_role("button", name="Sign in and give consent").click()
    expect(pane.page.locator("#message-text")).to_contain_text("needs your consent")
    pane.page.wait_for_function(f"() => window.OfficeStandin.state.tokenRequests.length > {tokens}")


def test_office_js_that_cannot_load_is_reported_at_once(browser: Any, live_service: str) -> None:
    """Opened outside Outlook with Office.js blocked: the pane says so instead of 'Loading…'."""
    context = browser.new_context(viewport={"width": 340, "height": 600})
    try:
        page = context.new_page()
        page.route("https://appsforoffice.microsoft.com/**", lambda route: route.abort("blockedbyclient"))
        page.goto(f"{live_service}/taskpane.html")
        expect(page.locator("#message-text")).to_contain_text("Office.js could not load", timeout=3_000)
        expect(page.locator("#status-loading")).to_be_hidden()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "25-no-office.png"))
    finally:
        context.close()


def test_office_js_that_never_becomes_ready_times_out(browser: Any, live_service: str) -> None:
    """Office.js loads but never says it is ready (not in an Office host): after the configured wait, a message."""
    context = browser.new_context(viewport={"width": 340, "height": 600})
    try:
        page = context.new_page()
        page.route(
            "https://appsforoffice.microsoft.com/**",
            lambda route: route.fulfill(
                body="window.Office = { onReady: function () { return new Promise(function () {}); } };",
                content_type="application/javascript",
            ),
        )
        page.route(
            "**/taskpane/config.json",
            lambda route: route.fulfill(json={"officeLoadTimeoutMs": 500}, headers={"Cache-Control": "no-cache"}),
        )
        page.goto(f"{live_service}/taskpane.html")
        expect(page.locator("#message-text")).to_contain_text("Office.js could not load")
    finally:
        context.close()


def test_limits_and_texts_come_from_the_pane_config(open_pane: Any) -> None:
    """`/taskpane/config.json` sets the attachment limit and the texts: a 10-byte limit leaves the PDF out."""
    config = patch_json(
        "**/taskpane/config.json",
        lambda c: {**c, "maxAttachmentBytes": 10, "texts": {"readOnly": "Read-only here, ask Contoso IT."}},
    )
    pane = open_pane(sample="dana-read", before=config)
    pane.wait_loaded()
    pane.page.get_by_role("button", name="Track without regarding").click()
    expect(pane.page.locator("#status-tracked")).to_be_visible()
    assert [[]] == [b["attachments"] for b in pane.bodies]

    carol = open_pane(user="carol@contoso.example", sample="unknown-sender", before=config)
    carol.wait_loaded()
    expect(carol.page.get_by_role("button", name="Track without regarding")).to_be_disabled()
    expect(carol.page.locator("#readonly-note")).to_have_text("Read-only here, ask Contoso IT.")


def test_the_attachment_is_sent_under_the_default_limit(open_pane: Any) -> None:
    """With the service's configuration the sample's PDF goes with the track."""
    pane = open_pane(sample="dana-read")
    pane.wait_loaded()
    pane.page.get_by_role("button", name="Track without regarding").click()
    expect(pane.page.locator("#status-tracked")).to_be_visible()
    assert [["quote-v2.pdf"]] == [[a["name"] for a in b["attachments"]] for b in pane.bodies]


# ---------------------------------------------------------------- the regarding lookup


def lookup_rows(pane: Pane) -> list[str]:
    """The lookup's list: '# title' for a group, 'name (table)' for a record."""
    rows: list[str] = pane.page.locator("#regarding-results > li").evaluate_all(
        "items => items.map(li => li.classList.contains('group') ? '# ' + li.textContent"
        " : li.querySelector('.result-name').textContent + ' (' + li.querySelector('button').dataset.table + ')')"
    )
    return rows


def typed_searches(pane: Pane) -> list[str]:
    """The searches the pane sent across every regarding table (what the user typed)."""
    return [p for _, p in pane.api_requests if re.match(r"regarding\?search=[^&]*&tables=account%2Ccontact", p)]


def test_lookup_suggests_the_senders_records_before_typing(open_pane: Any, api: Api) -> None:
    """On focus: the sender's contact and lead, their account and its open opportunities; then recent records."""
    pane = open_pane(sample="dana-read")
    pane.wait_loaded()
    pane.page.get_by_label(SEARCH_LABEL).focus()
    expect(pane.page.locator("#regarding-results")).to_contain_text("Fabrikam printer fleet")
    assert [
        "# From Dana Smith",
        "Dana Smith (contact)",
        "Dana Smith (lead)",
        "# Fabrikam, Inc. and its open opportunities and cases",
        "Fabrikam, Inc. (account)",
        "Fabrikam laptop refresh (opportunity)",
        "Fabrikam printer fleet (opportunity)",
        "Laptop battery swelling (incident)",
        "Printer jams on floor 3 (incident)",
    ] == lookup_rows(pane)
    assert [] == typed_searches(pane), "nothing was typed"
    assert [f"regarding?account={FABRIKAM_ACCOUNT_ID}&tables=opportunity%2Cincident&top=20"] == [
        p for _, p in pane.api_requests if p.startswith("regarding?")
    ], "the account's open opportunities and cases come from one call"
    pane.shot("30-lookup-suggestions")

    pane.page.locator("#regarding-results button", has_text="Fabrikam laptop refresh").click()
    expect(pane.page.locator("#lookup-field #regarding-chosen")).to_contain_text("Fabrikam laptop refresh")
    expect(pane.page.locator("#regarding-search")).to_be_hidden()
    pane.shot("31-lookup-chosen-in-field")
    pane.page.get_by_role("button", name="Track", exact=True).click()
    expect(pane.page.locator("#tracked-regarding")).to_have_text("Fabrikam laptop refresh · Opportunity")
    assert FABRIKAM_OPPORTUNITY_ID == email_status(api, DANA_MESSAGE_ID)["regarding"]["id"]

    # The next item in the same mailbox: the record just used is offered under Recent.
    pane.page.add_init_script(
        'window.__OFFICE_STANDIN__ = {"user": "alice@contoso.example", "sample": "unknown-sender", "item": {}};'
    )
    pane.page.reload()
    pane.wait_loaded()
    pane.page.get_by_label(SEARCH_LABEL).focus()
    expect(pane.page.locator("#regarding-results")).to_contain_text("Recent")
    assert ["# Recent", "Fabrikam laptop refresh (opportunity)"] == lookup_rows(pane)
    pane.shot("32-lookup-recent")


def test_lookup_contains_search_and_table_filter(open_pane: Any) -> None:
    """`*printer` finds the word anywhere among suggestions and cases that begin with it; a filter keeps one table."""
    pane = open_pane(sample="dana-read")
    pane.wait_loaded()
    pane.page.get_by_label(SEARCH_LABEL).focus()
    expect(pane.page.locator("#regarding-results")).to_contain_text("Fabrikam printer fleet")
    pane.page.keyboard.type("*printer")
    expect(pane.page.locator("#regarding-results")).to_contain_text("Printer jams on floor 3")
    rows = lookup_rows(pane)
    assert {"Fabrikam printer fleet (opportunity)", "Printer jams on floor 3 (incident)"} <= set(rows)
    assert "Fabrikam laptop refresh (opportunity)" not in rows
    assert ["regarding?search=*printer&tables=account%2Ccontact%2Clead%2Copportunity%2Cincident&top=10"] == (
        typed_searches(pane)
    ), "the service gets Dynamics' wildcard and searches anywhere in the columns"
    pane.shot("33-lookup-contains")

    pane.page.locator("#regarding-filters button[data-filter=incident]").click()
    expect(pane.page.locator("#regarding-filters button[data-filter=incident]")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(pane.page.locator("#regarding-results button[data-table=opportunity]")).to_have_count(0)
    expect(pane.page.locator("#regarding-results button[data-table=incident]").first).to_be_visible()
    assert any(p.endswith("search=*printer&tables=incident&top=10") for _, p in pane.api_requests)
    pane.shot("34-lookup-filter-cases")


def test_new_record_from_inside_the_lookup(open_pane: Any, api: Api) -> None:
    """Nothing found: New → Account opens the form with the typed name; saving tracks the item regarding it."""
    pane = open_pane(sample="unknown-sender")
    pane.wait_loaded()
    pane.page.get_by_label(SEARCH_LABEL).fill("Contoso Robotics")
    expect(pane.page.locator("#regarding-help")).to_have_text("No records match “Contoso Robotics”.")
    pane.page.get_by_role("button", name="+ New").click()
    pane.page.locator("#regarding-new-menu button[data-new-table=account]").click()
    expect(pane.page.locator("#create-title")).to_have_text("New account")
    expect(pane.page.locator("#create-name")).to_have_value("Contoso Robotics")
    expect(pane.page.locator("#create-emailaddress1")).to_have_value("sam.taylor@newco.example")
    pane.shot("35-lookup-new-account")
    pane.page.get_by_role("button", name="Save and track").click()
    expect(pane.page.locator("#tracked-regarding")).to_have_text("Contoso Robotics · Account")
    status = api.get("/api/v1/emails?internetMessageId=%3CNC-standin-0002%40mail.newco.example%3E").get_json()
    assert ("account", "Contoso Robotics") == (status["regarding"]["table"], status["regarding"]["name"])


def test_regarding_messages_end_once_and_stale_hints_clear(open_pane: Any) -> None:
    """'Regarding set to Fabrikam, Inc.' has one full stop; the lookup reopens empty, without the last results."""
    pane = open_pane(sample="seeded-tracked")
    pane.wait_loaded()
    pane.page.get_by_role("button", name="Change regarding").click()
    pane.page.locator("#regarding-search").fill("Adventure Works")
    pane.page.locator("#regarding-results button[data-table=account]", has_text="Adventure Works Cycles").click()
    expect(pane.page.locator("#tracked-regarding")).to_have_text("Adventure Works Cycles · Account")
    assert "Regarding set to Adventure Works Cycles." == pane.message()
    expect(pane.page.locator("#regarding-card")).to_be_hidden()

    pane.page.get_by_role("button", name="Change regarding").click()
    expect(pane.page.locator("#regarding-search")).to_have_value("")
    expect(pane.page.locator("#regarding-help")).not_to_contain_text("results")
    pane.page.locator("#regarding-search").fill("Fabrikam, Inc")
    pane.page.locator("#regarding-results button[data-table=account]", has_text="Fabrikam, Inc.").click()
    expect(pane.page.locator("#tracked-regarding")).to_have_text("Fabrikam, Inc. · Account")
    assert "Regarding set to Fabrikam, Inc." == pane.message()
    pane.shot("36-regarding-one-full-stop")


# ---------------------------------------------------------------- people


def stub_window_open(pane: Pane) -> None:
    """Record window.open calls instead of opening tabs."""
    pane.page.evaluate("() => { window.__opened = []; window.open = (url) => { window.__opened.push(url); }; }")


def test_people_lists_every_participant_and_each_match_is_actionable(open_pane: Any, api: Api) -> None:
    """Sender and Cc each with their records; a name opens the record, Set regarding picks it in one click."""
    pane = open_pane(sample="dana-read")
    pane.wait_loaded()
    people = pane.page.locator("#people > li.person")
    expect(people).to_have_count(2)
    assert [("from", "dana@fabrikam.example"), ("cc", "ravi.kumar@fabrikam.example")] == [
        (p.get_attribute("data-role"), p.get_attribute("data-address")) for p in people.all()
    ]
    sender = pane.page.locator(".person[data-role=from]")
    expect(sender.locator("li.match[data-table=contact] .match-meta")).to_contain_text("Contact · Fabrikam, Inc.")
    expect(pane.page.locator(".person[data-role=cc] .match-meta")).to_contain_text("Contact · Fabrikam, Inc.")
    expect(sender.locator(".resolves")).to_have_count(1)
    expect(sender.locator("li.match[data-table=contact] .resolves")).to_have_text(
        "The sender resolves to this record (Dynamics picks users, then contacts, accounts, leads)"
    )
    pane.shot("40-people")
    pane.page.set_viewport_size({"width": 320, "height": 900})
    pane.page.get_by_label(SEARCH_LABEL).focus()
    expect(pane.page.locator("#regarding-results")).to_contain_text("Fabrikam printer fleet")
    assert pane.page.evaluate("() => document.documentElement.scrollWidth") <= 320, "nothing wider than the pane"
    pane.shot("40b-people-and-lookup-320px")

    stub_window_open(pane)
    contact = next(
        m
        for m in api.get("/api/v1/people?email=dana@fabrikam.example").get_json()["matches"]
        if m["table"] == "contact"
    )
    sender.locator("li.match[data-table=contact] .match-name").click()
    opened = pane.page.evaluate("() => window.__opened")
    assert 1 == len(opened) and opened[0].endswith(f"/main.aspx?etn=contact&pagetype=entityrecord&id={contact['id']}")

    pane.page.get_by_role("button", name="Set regarding to Ravi Kumar").click()
    expect(pane.page.locator("#regarding-chosen-name")).to_have_text("Ravi Kumar · Contact")
    pane.page.get_by_role("button", name="Track", exact=True).click()
    expect(pane.page.locator("#tracked-regarding")).to_have_text("Ravi Kumar · Contact")
    expect(pane.page.locator("#tracked-resolved")).to_have_text("Sender linked to Dana Smith · Contact")


def test_the_card_shows_company_and_job_title_and_its_links_open_the_record_in_dev(open_pane: Any, api: Api) -> None:
    """Each match names its company and job title; its name and "View in Dynamics 365" open the dev record page."""
    pane = open_pane(sample="dana-read")
    pane.wait_loaded()
    sender = pane.page.locator(".person[data-role=from]")
    expect(sender.locator("li.match[data-table=contact] .match-meta")).to_have_text(
        " Contact · Fabrikam, Inc. · Purchasing Manager"
    )
    expect(sender.locator("li.match[data-table=lead] .match-meta")).to_contain_text("Lead · Fabrikam, Inc.")
    pane.shot("44-people-company-and-title")

    with pane.page.context.expect_page() as opened:
        sender.locator("li.match[data-table=contact] .match-name").click()
    record = opened.value
    record.wait_for_load_state()
    expect(record.locator("#record-name")).to_have_text("Dana Smith")
    assert record.url.startswith(api.devstack.config["environmentUrl"] + "/main.aspx?etn=contact")
    record.screenshot(path=str(SCREENSHOTS / "45-dev-record-page.png"), full_page=True)
    record.close()

    pane.page.get_by_role("button", name="Track without regarding").click()
    expect(pane.page.locator("#status-tracked")).to_be_visible()
    with pane.page.context.expect_page() as opened:
        pane.page.get_by_role("button", name="View in Dynamics 365").click()
    email = opened.value
    email.wait_for_load_state()
    activity_id = email_status(api, DANA_MESSAGE_ID)["activityId"]
    expect(email.locator("#record-id")).to_have_text(activity_id)
    expect(email.locator("#record-name")).to_contain_text("Laptop")


def test_an_attendee_list_shows_the_organizer_and_every_other_attendee(open_pane: Any) -> None:
    """A meeting: the organizer and the optional attendee, each looked up (the user is left out)."""
    pane = open_pane(sample="appointment-attendee")
    pane.wait_loaded()
    expect(pane.page.locator("#people > li.person")).to_have_count(2)
    expect(pane.page.locator(".person[data-role=organizer]")).to_contain_text("Maria Garcia")
    expect(pane.page.locator(".person[data-role=optional] li.match")).to_contain_text("John Chen")
    pane.shot("41-people-appointment")


def test_recent_activities_refresh_after_track_and_untrack(open_pane: Any) -> None:
    """The sender's recent activities show the item once tracked (opening it in Dynamics) and drop it once untracked."""
    pane = open_pane(sample="dana-read")
    pane.wait_loaded()
    recent = pane.page.locator("#person-recent")
    expect(recent).to_contain_text("Re: Laptop refresh quote")
    expect(recent).not_to_contain_text("Laptop refresh: revised quote")
    pane.page.get_by_role("button", name="Track without regarding").click()
    expect(recent).to_contain_text("Laptop refresh: revised quote")
    pane.shot("42-recent-after-track")

    stub_window_open(pane)
    recent.get_by_role("button", name="Laptop refresh: revised quote").click()
    opened = pane.page.evaluate("() => window.__opened[0]")
    assert re.search(r"/main\.aspx\?etn=email&pagetype=entityrecord&id=[0-9a-f-]{36}$", opened)
    activity_id = opened.rsplit("id=", 1)[1]
    pane.page.get_by_role("button", name="Untrack", exact=True).click()
    pane.page.get_by_role("button", name="Untrack and delete").click()
    expect(pane.page.locator("#status-untracked")).to_be_visible()
    expect(recent).not_to_contain_text("Laptop refresh: revised quote")
    assert any(p == f"emails/{activity_id}" for m, p in pane.api_requests if m == "DELETE")


def test_a_shared_address_says_which_record_the_sender_resolves_to(open_pane: Any) -> None:
    """Two contacts and an account share info@northwind: the first contact is marked as the sender's record."""
    pane = open_pane(sample="northwind-shared")
    pane.wait_loaded()
    sender = pane.page.locator(".person[data-role=from]")
    expect(sender.locator("li.match")).to_have_count(3)
    expect(sender.locator("li.match[data-table=contact]")).to_have_count(2)
    expect(sender.locator(".resolves")).to_have_count(1)
    expect(sender.locator("li.match[data-table=contact] .resolves")).to_have_text(
        "The sender resolves to this record: the first of 2 contacts with this address"
    )
    pane.shot("43-people-shared-address")


# ---------------------------------------------------------------- quick create


def test_quick_create_a_lead_prefilled_then_tracked_regarding_it(open_pane: Any, api: Api) -> None:
    """Add as lead: name, email, company and topic come prefilled; a missing last name is caught; saving tracks."""
    pane = open_pane(sample="unknown-sender")
    pane.wait_loaded()
    pane.page.get_by_role("button", name="Add as lead").click()
    expect(pane.page.locator("#create-title")).to_have_text("New lead")
    expect(pane.page.locator("#create-subject")).to_have_value("Introduction: NewCo partnership")
    expect(pane.page.locator("#create-companyname")).to_have_value("Newco")
    expect(pane.page.locator("#create-firstname")).to_have_value("Sam")
    pane.shot("50-quick-create-lead")

    pane.page.locator("#create-lastname").fill("")
    pane.page.get_by_role("button", name="Save and track").click()
    assert "Fill in the fields marked *." == pane.message()
    expect(pane.page.locator("#create-lastname")).to_have_attribute("aria-invalid", "true")
    assert [] == [p for m, p in pane.api_requests if m == "POST"]

    pane.page.locator("#create-lastname").fill("Taylor")
    pane.page.locator("#create-jobtitle").fill("Partnerships")
    pane.page.get_by_role("button", name="Save and track").click()
    expect(pane.page.locator("#tracked-regarding")).to_have_text("Sam Taylor · Lead")
    expect(pane.page.locator("#create-card")).to_be_hidden()
    created = next(b for b in pane.bodies if isinstance(b, dict) and b.get("table") == "lead")
    assert {
        "subject": "Introduction: NewCo partnership",
        "firstname": "Sam",
        "lastname": "Taylor",
        "emailaddress1": "sam.taylor@newco.example",
        "companyname": "Newco",
        "jobtitle": "Partnerships",
    } == created["fields"]
    status = api.get("/api/v1/emails?internetMessageId=%3CNC-standin-0002%40mail.newco.example%3E").get_json()
    assert ("lead", "Sam Taylor") == (status["regarding"]["table"], status["regarding"]["name"])
    pane.shot("51-quick-create-tracked")


# ---------------------------------------------------------------- the dev harness


def test_dev_pane_plays_the_user_and_item_named_in_its_url(browser: Any, live_service: str) -> None:
    """`/dev/pane?user=bob…&sample=unknown-sender` opened on its own is Bob reading the unknown sender's message."""
    context = browser.new_context(viewport={"width": PANE_WIDTH, "height": 700})
    try:
        page = context.new_page()
        page.goto(f"{live_service}/dev/pane?user=bob%40contoso.example&sample=unknown-sender")
        expect(page.locator("#item-subject")).to_have_text("Introduction: NewCo partnership")
        expect(page.locator("#message-text")).to_have_text(ADD_IN_NOT_ALLOWED)
        expect(page.locator("#user-name")).to_have_text("Bob Kelly")
    finally:
        context.close()


def test_dev_harness_fault_meets_the_panes_next_call(browser: Any, live_service: str) -> None:
    """The harness's throttle button is met by the pane's next action (not the live view), which waits it out."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live_service}/dev?user=carol%40contoso.example")
        expect(page.locator("#user-scenario")).to_have_text(
            "Read-only security role: sees data; tracking and creating records are refused."
        )
        page.goto(f"{live_service}/dev")
        expect(page.locator("#user-scenario")).to_contain_text("Can do everything")
        pane = page.frame_locator("#pane")
        pane.locator("#status-untracked").wait_for(state="visible", timeout=15_000)
        page.get_by_role("button", name="Throttle the pane's next call (429, 5 s)").click()
        expect(page.locator("#control-status")).to_have_text("Done.")
        pane.get_by_role("button", name="Track without regarding").click()
        expect(pane.locator("#message-countdown")).to_contain_text("Trying again in")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "60-dev-harness-throttle.png"))
        expect(pane.locator("#status-tracked")).to_be_visible(timeout=15_000)
        expect(page.locator("#live-items")).to_contain_text("Laptop refresh: revised quote", timeout=10_000)
    finally:
        context.close()
