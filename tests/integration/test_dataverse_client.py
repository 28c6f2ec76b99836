"""The Dataverse client against the devstack's emulated Web API over HTTPS: operations, batches, errors, limits."""

from __future__ import annotations

import base64
import dataclasses
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
import requests
from conftest import ManualClock

from addin_api.dataverse import odata
from addin_api.dataverse.batch import BatchRequest, ChangeSet
from addin_api.dataverse.breaker import CircuitBreaker
from addin_api.dataverse.client import REJECTED_VALUE, DataverseClient, DuplicateRecord, UserGate
from addin_api.devstack.seed import (
    DANA_CONTACT_ID,
    FABRIKAM_ACCOUNT_ID,
    NATURAL_FOODS_ACCOUNT_ID,
    OBRIEN_ACCOUNT_ID,
    TRACKED_EMAIL_ID,
)
from addin_api.errors import (
    Conflict,
    DataverseError,
    DataverseForbidden,
    DataverseUnavailable,
    NotFound,
    Throttled,
    ValidationFailed,
)
from addin_api.settings import Settings

if TYPE_CHECKING:
    from conftest import Devstack

ALICE = "alice@contoso.example"
CAROL = "carol@contoso.example"  # read-only


@pytest.fixture()
def http(devstack: Devstack) -> Iterator[requests.Session]:
    """One HTTPS session trusting the devstack CA, ignoring proxy and CA variables from the environment."""
    session = requests.Session()
    session.verify = devstack.ca_file
    session.trust_env = False
    yield session
    session.close()


@pytest.fixture()
def settings(devstack: Devstack) -> Settings:
    """Settings pointing at the devstack's tenant and environment."""
    tenant = devstack.config["tenantId"]
    return Settings(
        client_id=devstack.config["clientId"],
        tenants=(tenant,),
        dataverse_urls={tenant: devstack.config["environmentUrl"]},
    )


@pytest.fixture()
def gate(settings: Settings) -> UserGate:
    """The app-wide gate, as `create_app` would build it."""
    return UserGate(settings.per_user_concurrency)


@pytest.fixture()
def client_for(
    devstack: Devstack, http: requests.Session, settings: Settings, gate: UserGate
) -> Callable[..., DataverseClient]:
    """Build a client for a demo user (tokens minted by the devstack), optionally with other settings/token/gate."""

    def build(
        upn: str = ALICE,
        *,
        token: Callable[[bool], str] | None = None,
        settings_: Settings | None = None,
        gate_: UserGate | None = None,
    ) -> DataverseClient:
        user = next(u for u in devstack.config["users"] if u["upn"] == upn)
        minted = token or (lambda force_refresh: devstack.token(upn, audience="dataverse"))
        return DataverseClient(
            http,
            devstack.config["environmentUrl"],
            minted,
            settings_ or settings,
            gate_ or gate,
            (user["tenantId"], user["oid"]),
        )

    return build


def _dataverse_log(devstack: Devstack) -> list[tuple[str, str, int]]:
    return [
        (e["method"], e["path"].split("/api/data/v9.2/", 1)[1], e["status"]) for e in devstack.requests_log("dataverse")
    ]


# -- operations ---------------------------------------------------------------------------------------------------


def test_get_reads_a_seeded_record(client_for: Callable[..., DataverseClient], devstack: Devstack) -> None:
    """A GET by id returns the record in one round trip."""
    dv = client_for()
    record = dv.get(f"contacts({DANA_CONTACT_ID})", {"$select": "fullname,emailaddress1"})
    assert ("Dana Smith", "dana@fabrikam.example") == (record["fullname"], record["emailaddress1"])
    assert 1 == dv.round_trips
    assert [("GET", f"contacts({DANA_CONTACT_ID})", 200)] == _dataverse_log(devstack)


def test_filters_with_escaped_literals_find_exactly_the_named_records(
    client_for: Callable[..., DataverseClient],
) -> None:
    """A quote and an ampersand in `eq`, and a `%` in `startswith`, match literally."""
    dv = client_for()
    obrien = dv.get(
        "accounts", {"$select": "accountid", "$filter": f"name eq {odata.literal(chr(39).join(['O', 'Brien & Sons']))}"}
    )
    natural = dv.get("accounts", {"$select": "accountid", "$filter": f"startswith(name,{odata.like_literal('100%')})"})
    wildcard = dv.get("accounts", {"$select": "accountid", "$filter": f"contains(name,{odata.like_literal('_')})"})
    assert [OBRIEN_ACCOUNT_ID] == [r["accountid"] for r in obrien["value"]]
    assert [NATURAL_FOODS_ACCOUNT_ID] == [r["accountid"] for r in natural["value"]]
    assert [] == wildcard["value"]


def test_create_update_delete_round_trip(client_for: Callable[..., DataverseClient]) -> None:
    """A created contact can be read, updated (If-Match: *) and deleted; afterwards it is not found."""
    dv = client_for()
    created = dv.create("contacts", {"firstname": "Zoe", "lastname": "Roundtrip"})
    contact_id = created["id"]
    assert contact_id == odata.guid(contact_id)
    assert None is dv.update("contacts", contact_id, {"jobtitle": "Tester"})
    assert "Tester" == dv.get(f"contacts({contact_id})", {"$select": "jobtitle"})["jobtitle"]
    dv.delete("contacts", contact_id)
    with pytest.raises(NotFound):
        dv.get(f"contacts({contact_id})", {"$select": "fullname"})
    assert 5 == dv.round_trips


def test_create_and_update_with_select_return_the_record(client_for: Callable[..., DataverseClient]) -> None:
    """`select` asks for return=representation: the record comes back from POST and PATCH."""
    dv = client_for()
    created = dv.create("accounts", {"name": "Representation Ltd"}, select=["accountid", "name"])
    assert "Representation Ltd" == created["name"]
    updated = dv.update("accounts", created["accountid"], {"name": "Representation plc"}, select=["name"])
    assert updated is not None
    assert "Representation plc" == updated["name"]


def test_update_never_creates(client_for: Callable[..., DataverseClient]) -> None:
    """With the default If-Match: * an update of a missing record is NotFound, not an upsert."""
    dv = client_for()
    missing = str(uuid.uuid4())
    with pytest.raises(NotFound):
        dv.update("contacts", missing, {"lastname": "Ghost"})
    with pytest.raises(NotFound):
        dv.get(f"contacts({missing})")


def test_create_with_an_existing_id_is_a_duplicate(client_for: Callable[..., DataverseClient]) -> None:
    """A second create with the same client-generated id raises DuplicateRecord (412 0x80040237)."""
    dv = client_for()
    record_id = str(uuid.uuid4())
    assert {"id": record_id} == dv.create("contacts", {"contactid": record_id, "lastname": "Once"}, idempotent=True)
    with pytest.raises(DuplicateRecord):
        dv.create("contacts", {"contactid": record_id, "lastname": "Twice"}, idempotent=True)


def test_create_only_upsert_of_an_existing_record_is_a_duplicate(client_for: Callable[..., DataverseClient]) -> None:
    """PATCH with If-None-Match: * creates once, then answers 412, raised as DuplicateRecord."""
    dv = client_for()
    record_id = str(uuid.uuid4())
    dv.update("contacts", record_id, {"lastname": "Upserted"}, if_match=None, if_none_match="*")
    assert "Upserted" == dv.get(f"contacts({record_id})", {"$select": "lastname"})["lastname"]
    with pytest.raises(DuplicateRecord):
        dv.update("contacts", record_id, {"lastname": "Again"}, if_match=None, if_none_match="*")


def test_stale_etag_is_a_conflict(client_for: Callable[..., DataverseClient]) -> None:
    """An If-Match with an old ETag is a Conflict (and not a DuplicateRecord)."""
    dv = client_for()
    etag = dv.get(f"accounts({FABRIKAM_ACCOUNT_ID})", {"$select": "name"})["@odata.etag"]
    dv.update("accounts", FABRIKAM_ACCOUNT_ID, {"telephone1": "+1 425 555 0199"}, if_match=etag)
    with pytest.raises(Conflict) as raised:
        dv.update("accounts", FABRIKAM_ACCOUNT_ID, {"telephone1": "+1 425 555 0198"}, if_match=etag)
    assert Conflict is type(raised.value)


def test_delete_ref_clears_the_regarding(client_for: Callable[..., DataverseClient]) -> None:
    """DELETE …/regardingobjectid_account_email/$ref clears the tracked email's regarding."""
    dv = client_for()
    before = dv.get(f"emails({TRACKED_EMAIL_ID})", {"$select": "_regardingobjectid_value"})
    assert FABRIKAM_ACCOUNT_ID == before["_regardingobjectid_value"]
    dv.delete_ref("emails", TRACKED_EMAIL_ID, "regardingobjectid_account_email")
    after = dv.get(f"emails({TRACKED_EMAIL_ID})", {"$select": "_regardingobjectid_value"})
    assert None is after["_regardingobjectid_value"]


def test_annotations_bring_formatted_values(client_for: Callable[..., DataverseClient]) -> None:
    """`annotations=True` asks for formatted values, on GET and on a PATCH returning the record."""
    dv = client_for()
    formatted = "_regardingobjectid_value@OData.Community.Display.V1.FormattedValue"
    read = dv.get(f"emails({TRACKED_EMAIL_ID})", {"$select": "_regardingobjectid_value"}, annotations=True)
    assert "Fabrikam, Inc." == read[formatted]
    updated = dv.update(
        "emails",
        TRACKED_EMAIL_ID,
        {"regardingobjectid_account_email@odata.bind": f"/accounts({OBRIEN_ACCOUNT_ID})"},
        select=["_regardingobjectid_value"],
        annotations=True,
    )
    assert updated is not None
    assert (OBRIEN_ACCOUNT_ID, "O'Brien & Sons") == (updated["_regardingobjectid_value"], updated[formatted])


def test_unsafe_names_and_ids_never_reach_dataverse(
    client_for: Callable[..., DataverseClient], devstack: Devstack
) -> None:
    """Bad GUIDs, odd entity-set names and absolute paths are refused before any request."""
    dv = client_for()
    with pytest.raises(ValueError):
        dv.delete("contacts", "1) or (1 eq 1")
    with pytest.raises(ValueError):
        dv.create("contacts?$expand=x", {})
    with pytest.raises(ValueError):
        dv.get("https://attacker.example/api/data/v9.2/contacts")
    assert 0 == dv.round_trips
    assert [] == _dataverse_log(devstack)


# -- $batch -------------------------------------------------------------------------------------------------------


def test_batch_with_gets_and_a_change_set_is_one_request(
    client_for: Callable[..., DataverseClient], devstack: Devstack
) -> None:
    """GETs and an atomic change set (with a Content-ID reference) travel in one round trip."""
    dv = client_for()
    name = f"Batch Co {uuid.uuid4().hex[:8]}"
    responses = dv.batch(
        [
            BatchRequest("GET", "WhoAmI"),
            ChangeSet(
                [
                    BatchRequest("POST", "accounts", {"name": name}, content_id="1"),
                    BatchRequest(
                        "POST", "contacts", {"lastname": "Batched", "parentcustomerid_account@odata.bind": "$1"}
                    ),
                ]
            ),
            BatchRequest(
                "GET",
                f"accounts?{odata.query_string({'$select': 'name', '$filter': f'name eq {odata.literal(name)}'})}",
            ),
        ],
        idempotent=False,
    )
    for response in responses:
        dv.raise_for(response)
    assert [200, 204, 204, 200] == [r.status for r in responses]
    assert "1" == responses[1].content_id
    assert [name] == [r["name"] for r in responses[3].body["value"]]
    assert 1 == dv.round_trips
    log = devstack.requests_log("dataverse")
    assert [("POST", 4)] == [(e["method"], len(e["parts"])) for e in log]


def test_failing_change_set_rolls_back(client_for: Callable[..., DataverseClient]) -> None:
    """When one request of a change set fails, nothing of it is kept and raise_for maps the failure."""
    dv = client_for()
    name = f"Rollback Co {uuid.uuid4().hex[:8]}"
    responses = dv.batch(
        [
            ChangeSet(
                [
                    BatchRequest("POST", "accounts", {"name": name}),
                    BatchRequest("POST", "contacts", {"lastname": "x", "nosuchcolumn": 1}),
                ]
            )
        ]
    )
    failed = [r for r in responses if not r.ok]
    assert 1 == len(failed)
    with pytest.raises(ValidationFailed) as raised:
        dv.raise_for(failed[0])
    assert {"dataverse": [REJECTED_VALUE]} == raised.value.errors
    found = dv.get("accounts", {"$select": "name", "$filter": f"name eq {odata.literal(name)}"})
    assert [] == found["value"]


def test_batch_of_gets_is_retried_on_503(client_for: Callable[..., DataverseClient], devstack: Devstack) -> None:
    """A $batch of GETs only is idempotent: a 503 is retried."""
    devstack.fault(target="dataverse", method="POST", path=r"/\$batch$", status=503, count=1)
    dv = client_for()
    responses = dv.batch([BatchRequest("GET", "WhoAmI")])
    assert [200] == [r.status for r in responses]
    assert [503, 200] == [e["status"] for e in devstack.requests_log("dataverse")]


# -- error mapping ------------------------------------------------------------------------------------------------


def test_read_only_user_creating_is_forbidden(client_for: Callable[..., DataverseClient]) -> None:
    """Carol may read but not create: 403 0x80040220 becomes DataverseForbidden."""
    dv = client_for(CAROL)
    assert "Dana Smith" == dv.get(f"contacts({DANA_CONTACT_ID})", {"$select": "fullname"})["fullname"]
    with pytest.raises(DataverseForbidden):
        dv.create("accounts", {"name": "Not allowed"})


def test_missing_record_is_not_found(client_for: Callable[..., DataverseClient]) -> None:
    """404 0x80040217 becomes NotFound; a delete of a missing record too."""
    dv = client_for()
    with pytest.raises(NotFound):
        dv.get(f"accounts({uuid.uuid4()})")
    with pytest.raises(NotFound):
        dv.delete("accounts", str(uuid.uuid4()))


def test_bad_request_is_validation_failed_without_dataverse_text(client_for: Callable[..., DataverseClient]) -> None:
    """A 400 becomes ValidationFailed with our message only: no column names or values from Dataverse."""
    dv = client_for()
    with pytest.raises(ValidationFailed) as raised:
        dv.create("contacts", {"lastname": "Smith", "secretcolumn": "dana@fabrikam.example"})
    assert {"dataverse": [REJECTED_VALUE]} == raised.value.errors
    text = f"{raised.value} {raised.value.detail} {raised.value.extra()}"
    assert "secretcolumn" not in text
    assert "fabrikam" not in text


def test_unauthorized_refreshes_the_token_once(client_for: Callable[..., DataverseClient], devstack: Devstack) -> None:
    """A 401 makes the client ask for a fresh token once and repeat the call."""
    calls: list[bool] = []

    def token(force_refresh: bool) -> str:
        calls.append(force_refresh)
        return devstack.token(ALICE, audience="dataverse") if force_refresh else "not-a-valid-token"

    dv = client_for(token=token)
    assert "UserId" in dv.get("WhoAmI")
    assert [False, True] == calls
    assert [401, 200] == [e["status"] for e in devstack.requests_log("dataverse")]


def test_unauthorized_after_refresh_is_a_dataverse_error(client_for: Callable[..., DataverseClient]) -> None:
    """When the fresh token is refused too, the call ends as DataverseError (502), after exactly one refresh."""
    calls: list[bool] = []

    def token(force_refresh: bool) -> str:
        calls.append(force_refresh)
        return "still-not-valid"

    dv = client_for(token=token)
    with pytest.raises(DataverseError):
        dv.get("WhoAmI")
    assert [False, True] == calls
    assert 2 == dv.round_trips


# -- throttling and outages ---------------------------------------------------------------------------------------


def test_short_retry_after_is_waited_and_retried(
    client_for: Callable[..., DataverseClient], devstack: Devstack
) -> None:
    """429 with Retry-After 1 (≤ the 3 s cap): the GET is sent again after the wait and succeeds."""
    devstack.fault(target="dataverse", method="GET", path="/WhoAmI$", status=429, retryAfter=1, count=1)
    dv = client_for()
    started = time.monotonic()
    assert "UserId" in dv.get("WhoAmI")
    assert time.monotonic() - started >= 1.0
    assert [("GET", "WhoAmI", 429), ("GET", "WhoAmI", 200)] == _dataverse_log(devstack)
    assert 2 == dv.round_trips


def test_long_retry_after_blocks_only_that_user(client_for: Callable[..., DataverseClient], devstack: Devstack) -> None:
    """429 with Retry-After 120: Throttled(120); the user's next call sends nothing; another user is served."""
    devstack.fault(target="dataverse", method="GET", path="/WhoAmI$", status=429, retryAfter=120, count=1)
    with pytest.raises(Throttled) as first:
        client_for().get("WhoAmI")
    assert 120 == first.value.retry_after
    devstack.clear_log()

    later = client_for()
    with pytest.raises(Throttled) as second:
        later.get("WhoAmI")
    assert second.value.retry_after is not None and 110 <= second.value.retry_after <= 120
    assert 0 == later.round_trips
    assert [] == devstack.requests_log("dataverse")

    assert "UserId" in client_for(CAROL).get("WhoAmI")
    assert [200] == [e["status"] for e in devstack.requests_log("dataverse")]


def test_short_window_is_waited_out_before_sending(
    client_for: Callable[..., DataverseClient], devstack: Devstack, gate: UserGate
) -> None:
    """Inside a short Retry-After window (≤ the 3 s cap) a call waits for its end, then sends once."""
    user = next(u for u in devstack.config["users"] if u["upn"] == ALICE)
    gate.block((user["tenantId"], user["oid"]), 1.0)
    dv = client_for()
    assert "UserId" in dv.get("WhoAmI")
    assert 0.0 == gate.blocked_for((user["tenantId"], user["oid"]))
    assert [("GET", "WhoAmI", 200)] == _dataverse_log(devstack)


def test_scaled_down_service_protection_limits_are_honoured(
    client_for: Callable[..., DataverseClient], devstack: Devstack
) -> None:
    """With 2 requests allowed per window the third is throttled and the fourth is never sent."""
    devstack.http.put(
        f"{devstack.url}/_devstack/limits", json={"requests": 2, "windowSeconds": 300}, timeout=10
    ).raise_for_status()
    dv = client_for()
    dv.get("WhoAmI")
    dv.get("WhoAmI")
    with pytest.raises(Throttled) as raised:
        dv.get("WhoAmI")
    assert raised.value.retry_after is not None and raised.value.retry_after > 3
    with pytest.raises(Throttled):
        dv.get("WhoAmI")
    assert [200, 200, 429] == [e["status"] for e in devstack.requests_log("dataverse")]


def test_non_idempotent_create_is_not_retried_on_429(
    client_for: Callable[..., DataverseClient], devstack: Devstack
) -> None:
    """A plain POST answered 429 is not resent, even for a short Retry-After."""
    devstack.fault(target="dataverse", method="POST", path="/accounts$", status=429, retryAfter=1, count=1)
    dv = client_for()
    with pytest.raises(Throttled) as raised:
        dv.create("accounts", {"name": "Once only"})
    assert 1 == raised.value.retry_after
    assert [("POST", "accounts", 429)] == _dataverse_log(devstack)


def test_get_is_retried_on_503_then_unavailable(client_for: Callable[..., DataverseClient], devstack: Devstack) -> None:
    """A GET meeting 503 is sent three times in all (two retries), then DataverseUnavailable."""
    devstack.fault(target="dataverse", method="GET", path="/WhoAmI$", status=503, count=10)
    dv = client_for()
    with pytest.raises(DataverseUnavailable) as raised:
        dv.get("WhoAmI")
    assert raised.value.retry_after is not None and raised.value.retry_after >= 1
    assert [503, 503, 503] == [e["status"] for e in devstack.requests_log("dataverse")]


def test_get_recovers_after_one_503(client_for: Callable[..., DataverseClient], devstack: Devstack) -> None:
    """One 503 then success: the caller sees only the success."""
    devstack.fault(target="dataverse", method="GET", path="/WhoAmI$", status=503, count=1)
    assert "UserId" in client_for().get("WhoAmI")
    assert [503, 200] == [e["status"] for e in devstack.requests_log("dataverse")]


def test_post_is_not_retried_on_503(client_for: Callable[..., DataverseClient], devstack: Devstack) -> None:
    """A non-idempotent create meeting 503 is sent once."""
    devstack.fault(target="dataverse", method="POST", path="/accounts$", status=503, count=10)
    with pytest.raises(DataverseUnavailable):
        client_for().create("accounts", {"name": "Maybe"})
    assert [("POST", "accounts", 503)] == _dataverse_log(devstack)


def test_idempotent_create_is_retried_on_503(client_for: Callable[..., DataverseClient], devstack: Devstack) -> None:
    """A create with a client-generated id is retried after a 503 and lands once."""
    devstack.fault(target="dataverse", method="POST", path="/accounts$", status=503, count=1)
    dv = client_for()
    record_id = str(uuid.uuid4())
    assert {"id": record_id} == dv.create("accounts", {"accountid": record_id, "name": "Safe"}, idempotent=True)
    assert [503, 204] == [e["status"] for e in devstack.requests_log("dataverse")]


def test_slow_dataverse_is_unavailable(
    client_for: Callable[..., DataverseClient], devstack: Devstack, settings: Settings
) -> None:
    """Latency beyond the read timeout ends as DataverseUnavailable after the retries."""
    devstack.fault(target="dataverse", method="GET", path="/WhoAmI$", delayMs=1500, count=3)
    dv = client_for(settings_=dataclasses.replace(settings, read_timeout=0.3))
    with pytest.raises(DataverseUnavailable):
        dv.get("WhoAmI")
    assert 3 == dv.round_trips
    # Let the server finish the abandoned requests so they do not land in the next test's log.
    deadline = time.monotonic() + 15
    while len(devstack.requests_log("dataverse")) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture()
def unreachable(
    http: requests.Session, devstack: Devstack, settings: Settings, gate: UserGate
) -> Callable[[list[float]], DataverseClient]:
    """A client for an environment on a closed port, recording its back-off sleeps in the given list."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    def build(slept: list[float]) -> DataverseClient:
        token = devstack.token(ALICE, audience="dataverse")
        url = f"https://127.0.0.1:{closed_port}"
        return DataverseClient(http, url, lambda force: token, settings, gate, ("t", "a"), sleep=slept.append)

    return build


def test_unreachable_dataverse_is_unavailable_after_retries(
    unreachable: Callable[[list[float]], DataverseClient],
) -> None:
    """A refused connection is transient: an idempotent GET is tried three times, then DataverseUnavailable."""
    slept: list[float] = []
    dv = unreachable(slept)
    with pytest.raises(DataverseUnavailable):
        dv.get("WhoAmI")
    assert (3, 2) == (dv.round_trips, len(slept))


def test_unreachable_dataverse_is_not_retried_for_a_plain_create(
    unreachable: Callable[[list[float]], DataverseClient],
) -> None:
    """A create without a client-generated key is sent once: a second try could create a second record."""
    slept: list[float] = []
    dv = unreachable(slept)
    with pytest.raises(DataverseUnavailable):
        dv.create("contacts", {"lastname": "Once"})
    assert (1, []) == (dv.round_trips, slept)


def test_untrusted_certificate_is_unavailable_without_retry(
    devstack: Devstack, settings: Settings, gate: UserGate
) -> None:
    """A server whose certificate we do not trust never gets the token, and a TLS failure is not retried."""
    untrusting = requests.Session()  # public CAs only: the devstack's CA is unknown to it
    untrusting.trust_env = False
    slept: list[float] = []
    dv = DataverseClient(
        untrusting,
        devstack.config["environmentUrl"],
        lambda force_refresh: devstack.token(ALICE, audience="dataverse"),
        settings,
        gate,
        ("tenant", "alice"),
        sleep=slept.append,
    )
    with untrusting, pytest.raises(DataverseUnavailable):
        dv.get("WhoAmI")
    assert (1, [], []) == (dv.round_trips, slept, devstack.requests_log("dataverse"))


def test_an_environment_that_keeps_failing_is_not_called_for_thirty_seconds(
    http: requests.Session, devstack: Devstack, settings: Settings, gate: UserGate
) -> None:
    """Five 503s in a row open the environment's circuit: every user's calls fail at once, then one probe closes it."""
    clock = ManualClock()
    breaker = CircuitBreaker(clock=clock)

    def client(upn: str) -> DataverseClient:
        user = next(u for u in devstack.config["users"] if u["upn"] == upn)
        return DataverseClient(
            http,
            devstack.config["environmentUrl"],
            lambda force_refresh: devstack.token(upn, audience="dataverse"),
            settings,
            gate,
            (user["tenantId"], user["oid"]),
            sleep=lambda seconds: None,
            breaker=breaker,
        )

    devstack.fault(target="dataverse", method="GET", path="/WhoAmI$", status=503, count=5)
    alice = client(ALICE)
    for _ in range(2):  # three tries each: the fifth failure opens the circuit and the sixth is never sent
        with pytest.raises(DataverseUnavailable):
            alice.get("WhoAmI")
    assert 5 == len(devstack.requests_log("dataverse"))
    with pytest.raises(DataverseUnavailable) as refused:
        client(CAROL).get(f"contacts({DANA_CONTACT_ID})")
    assert (30, 5) == (refused.value.retry_after, len(devstack.requests_log("dataverse")))

    clock.advance(30)
    assert "UserId" in client(CAROL).get("WhoAmI")  # the probe: answered, so the circuit closes
    assert (False, 6) == (breaker.is_open(), len(devstack.requests_log("dataverse")))


def test_per_user_concurrency_cap_holds(
    client_for: Callable[..., DataverseClient], devstack: Devstack, settings: Settings
) -> None:
    """With a cap of 2, six parallel GETs delayed 300 ms each never overlap more than two at a time."""
    devstack.fault(target="dataverse", method="GET", path=r"/contacts\(", delayMs=300, count=6)
    gate = UserGate(2)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client_for(gate_=gate).get(f"contacts({DANA_CONTACT_ID})", {"$select": "fullname"})
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(6)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    elapsed = time.monotonic() - started
    assert [] == errors
    log = [e for e in devstack.requests_log("dataverse") if "/contacts(" in e["path"]]
    assert 6 == len(log)
    intervals = [(e["at"] - e["durationMs"] / 1000, e["at"]) for e in log]
    peak = max(sum(1 for s, e in intervals if s <= start < e) for start, _ in intervals)
    assert peak <= 2
    assert elapsed >= 0.9  # three rounds of 300 ms at least; a lower bound cannot flake on a slow machine
    assert 0 == gate.in_flight(("any", "one"))


def test_call_queued_for_a_slot_does_not_send_into_a_window_opened_meanwhile(
    client_for: Callable[..., DataverseClient], devstack: Devstack, settings: Settings
) -> None:
    """One slot per user: a call queued behind one that gets 429 (Retry-After 1) sends only after the window."""
    devstack.fault(target="dataverse", method="GET", path="/WhoAmI$", status=429, retryAfter=1, count=1, delayMs=400)
    one_slot = UserGate(1)
    single = dataclasses.replace(settings, per_user_concurrency=1)
    started = time.monotonic()
    first = threading.Thread(target=lambda: client_for(settings_=single, gate_=one_slot).get("WhoAmI"))
    first.start()
    time.sleep(0.15)  # the first call holds the slot, its answer not yet back
    client_for(settings_=single, gate_=one_slot).get(f"contacts({DANA_CONTACT_ID})")
    queued_done = time.monotonic() - started
    first.join()
    log = devstack.requests_log("dataverse")
    throttled_at = next(float(e["at"]) for e in log if e["status"] == 429)
    contact = next(e for e in log if "contacts" in e["path"])
    assert queued_done >= 1.3
    assert float(contact["at"]) - float(contact["durationMs"]) / 1000 >= throttled_at + 1.0


def test_body_with_a_large_attachment_is_streamed_and_arrives_intact(
    client_for: Callable[..., DataverseClient],
) -> None:
    """An email deep-inserted with a 600 kB attachment (streamed in slices) is stored byte for byte."""
    content = base64.b64encode(bytes(range(256)) * 2400).decode()
    activity_id = str(uuid.uuid4())
    body = {
        "activityid": activity_id,
        "subject": 'Zoë\'s "figures"',
        "email_activity_mime_attachment": [
            {"filename": "q3.bin", "mimetype": "application/octet-stream", "body": content, "objecttypecode": "email"}
        ],
    }
    dv = client_for()
    dv.create("emails", body, idempotent=True)
    stored = dv.get("activitymimeattachments", {"$filter": f"_objectid_value eq {activity_id}", "$select": "body"})
    subject = dv.get(f"emails({activity_id})", {"$select": "subject"})["subject"]
    assert ([content], 'Zoë\'s "figures"') == ([a["body"] for a in stored["value"]], subject)
