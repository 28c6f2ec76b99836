"""Hostile bodies, query strings and headers on every route that reads one: a 4xx problem+json with a stable code,
a bounded answer, and not one Dataverse request (so nothing written)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from conftest import Api

from addin_api.devstack import seed

ACTIVITY_ID = "6f1c2e4a-0000-4000-8000-00000000a001"
# Far more than any problem document about a few fields needs; the hostile bodies below are up to 8 MiB.
MAX_PROBLEM_BYTES = 4096
MIB = 1024 * 1024


def email() -> dict[str, Any]:
    """A valid track-email body."""
    return {
        "internetMessageId": "<hostile-1@mail.fabrikam.example>",
        "subject": "Quarterly review",
        "from": {"address": seed.DANA_EMAIL},
        "to": [{"address": "alice@contoso.example"}],
        "sentAt": "2026-11-20T09:30:00Z",
    }


def appointment() -> dict[str, Any]:
    """A valid track-appointment body."""
    return {
        "globalObjectId": "040000008200E00074C5B7101A82E008000000001",
        "subject": "Review",
        "start": "2026-11-20T09:30:00Z",
        "end": "2026-11-20T10:00:00Z",
        "requiredAttendees": [{"address": "alice@contoso.example"}],
    }


def record() -> dict[str, Any]:
    """A valid create-contact body."""
    return {"table": "contact", "fields": {"firstname": "Eve", "lastname": "Hostile"}}


def regarding() -> dict[str, Any]:
    """A valid set-regarding body."""
    return {"table": "account", "id": seed.FABRIKAM_ACCOUNT_ID}


# Every route that reads a body: method, path, a valid body, a string field in it, and its list (or mapping) fields
# with their declared maximum lengths.
BODY_ROUTES = [
    pytest.param(
        "POST",
        "/api/v1/emails",
        email,
        ("subject",),
        {"to": 500, "cc": 500, "bcc": 500, "attachments": 50},
        id="track-email",
    ),
    pytest.param(
        "POST",
        "/api/v1/appointments",
        appointment,
        ("subject",),
        {"requiredAttendees": 500, "optionalAttendees": 500, "attachments": 50},
        id="track-appointment",
    ),
    pytest.param("POST", "/api/v1/records", record, ("fields", "lastname"), {"fields": 32}, id="create-record"),
    pytest.param("PUT", f"/api/v1/emails/{ACTIVITY_ID}/regarding", regarding, ("table",), {}, id="email-regarding"),
    pytest.param(
        "PUT",
        f"/api/v1/appointments/{ACTIVITY_ID}/regarding",
        regarding,
        ("table",),
        {},
        id="appointment-regarding",
    ),
]
BODY_ROUTE_ARGS = "method, path, valid, field, lists"

# Every route that reads a query string, and the parameter it needs.
QUERY_ROUTES = [
    pytest.param("/api/v1/emails", "internetMessageId", id="email-status"),
    pytest.param("/api/v1/appointments", "globalObjectId", id="appointment-status"),
    pytest.param("/api/v1/regarding", "search", id="regarding-search"),
    pytest.param("/api/v1/people", "email", id="people"),
]


def send(api: Api, method: str, path: str, data: bytes | str, query: bytes = b"", **kwargs: Any) -> Any:
    """Send a raw JSON body (and raw query bytes) as Alice, after clearing the devstack's request log."""
    api.headers("alice@contoso.example")  # mint (and cache) the token before the log is cleared
    api.devstack.clear_log()
    raw = data.encode() if isinstance(data, str) else data
    # WSGI carries the query string's bytes as a latin-1 string (the test client's `query_string` would re-encode it).
    environ = {"QUERY_STRING": query.decode("latin-1")}
    return api.call(method, path, data=raw, content_type="application/json", environ_overrides=environ, **kwargs)


def refused(api: Api, response: Any, status: int, code: str) -> dict[str, Any]:
    """The answer is a small problem+json with this status and code, and Dataverse was never called."""
    assert "application/problem+json" == response.mimetype, response.get_data(as_text=True)[:500]
    problem: dict[str, Any] = response.get_json()
    assert (status, code) == (response.status_code, problem["code"]), problem
    assert len(response.get_data()) <= MAX_PROBLEM_BYTES
    assert [] == api.dataverse_trips()
    return problem


def set_at(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of `body` with the value at `path` replaced."""
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def at(errors: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The `errors` entry at `path`."""
    found: Any = errors
    for key in path:
        found = found[key]
    return found


def test_the_valid_bodies_get_past_validation(api: Api) -> None:
    """The valid bodies the hostile cases start from are accepted, so each case is refused for its one change."""
    assert 201 == api.post("/api/v1/emails", email()).status_code
    assert 201 == api.post("/api/v1/appointments", appointment()).status_code
    assert 201 == api.post("/api/v1/records", record()).status_code
    assert 404 == api.put(f"/api/v1/emails/{ACTIVITY_ID}/regarding", regarding()).status_code


@pytest.mark.parametrize("depth", [20, 1000, 5000])
@pytest.mark.parametrize(BODY_ROUTE_ARGS, BODY_ROUTES)
def test_deep_nesting_is_422(
    api: Api, method: str, path: str, valid: Any, field: tuple[str, ...], lists: dict[str, int], depth: int
) -> None:
    """A value nested deeper than any body needs is 422 validation_failed naming the body, never a 500."""
    text = json.dumps(set_at(valid(), field, "DEEP")).replace('"DEEP"', "[" * depth + "]" * depth)
    problem = refused(api, send(api, method, path, text), 422, "validation_failed")
    assert ["must not nest deeper than 16 levels"] == problem["errors"]["body"]


@pytest.mark.parametrize(BODY_ROUTE_ARGS, BODY_ROUTES)
def test_a_lone_surrogate_is_422_naming_the_field(
    api: Api, method: str, path: str, valid: Any, field: tuple[str, ...], lists: dict[str, int]
) -> None:
    """`"\\ud800"` in a string field is not text: 422 naming that field, and Dataverse is never called."""
    text = json.dumps(set_at(valid(), field, "Review \ud800"))
    assert "\\ud800" in text
    problem = refused(api, send(api, method, path, text), 422, "validation_failed")
    assert ["must be valid Unicode text"] == at(problem["errors"], field)


@pytest.mark.parametrize(BODY_ROUTE_ARGS, BODY_ROUTES)
def test_a_lone_surrogate_in_a_field_name_is_422(
    api: Api, method: str, path: str, valid: Any, field: tuple[str, ...], lists: dict[str, int]
) -> None:
    """A field name with a lone surrogate is refused before the schema could echo it back."""
    problem = refused(api, send(api, method, path, json.dumps({**valid(), "x\udfff": 1})), 422, "validation_failed")
    assert {"body": ["must have field names that are valid Unicode text"]} == problem["errors"]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'"\xed\xa0\x80"', id="utf8-encoded-surrogate"),
        pytest.param(b'"\xff"', id="not-utf8"),
        pytest.param(b'"caf\xe9"', id="latin-1"),
    ],
)
@pytest.mark.parametrize(BODY_ROUTE_ARGS, BODY_ROUTES)
def test_bytes_that_are_not_utf8_are_422(
    api: Api, method: str, path: str, valid: Any, field: tuple[str, ...], lists: dict[str, int], raw: bytes
) -> None:
    """A body that is not UTF-8 (a surrogate's bytes included) is 422 validation_failed, not decoded leniently."""
    data = json.dumps(set_at(valid(), field, "RAW")).encode().replace(b'"RAW"', raw)
    problem = refused(api, send(api, method, path, data), 422, "validation_failed")
    assert ["must be JSON in UTF-8"] == problem["errors"]["body"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize(BODY_ROUTE_ARGS, BODY_ROUTES)
def test_javascript_constants_are_not_json(
    api: Api, method: str, path: str, valid: Any, field: tuple[str, ...], lists: dict[str, int], constant: str
) -> None:
    """`NaN` and `Infinity`, which Python's parser takes by default, are refused as not JSON."""
    text = json.dumps(set_at(valid(), field, "CONSTANT")).replace('"CONSTANT"', constant)
    problem = refused(api, send(api, method, path, text), 422, "validation_failed")
    assert ["must be a JSON object"] == problem["errors"]["body"]


@pytest.mark.parametrize("size", [1 * MIB, 8 * MIB])
@pytest.mark.parametrize(BODY_ROUTE_ARGS, BODY_ROUTES)
def test_a_flood_of_empty_objects_is_refused_from_its_text(
    api: Api, method: str, path: str, valid: Any, field: tuple[str, ...], lists: dict[str, int], size: int
) -> None:
    """Megabytes of `{}` in one field answer a few hundred bytes: 422 on the small routes' size, else on the count."""
    items = ",".join(["{}"] * (size // 3))
    text = json.dumps(set_at(valid(), field[:1], "FLOOD")).replace('"FLOOD"', f"[{items}]")
    response = send(api, method, path, text)
    if method == "POST" and path != "/api/v1/records":
        problem = refused(api, response, 422, "validation_failed")
        assert ["must hold at most 50000 values"] == problem["errors"]["body"]
    else:
        refused(api, response, 413, "payload_too_large")


@pytest.mark.parametrize(BODY_ROUTE_ARGS, [p for p in BODY_ROUTES if p.values[4]])
def test_a_list_over_its_maximum_is_one_message_naming_it(
    api: Api, method: str, path: str, valid: Any, field: tuple[str, ...], lists: dict[str, int]
) -> None:
    """Each list (or mapping) one item over its declared maximum answers one message, not one per item."""
    for name, maximum in lists.items():
        items: Any = {f"f{i}": "x" for i in range(maximum + 1)} if name == "fields" else [{}] * (maximum + 1)
        problem = refused(api, send(api, method, path, json.dumps({**valid(), name: items})), 422, "validation_failed")
        assert [f"Longer than maximum length {maximum}."] == problem["errors"][name]


@pytest.mark.parametrize(BODY_ROUTE_ARGS, BODY_ROUTES)
def test_a_thousand_mistakes_answer_the_first_twenty(
    api: Api, method: str, path: str, valid: Any, field: tuple[str, ...], lists: dict[str, int]
) -> None:
    """A thousand unknown fields answer 20 messages and how many were left out."""
    body = {**valid(), **{f"k{i}": 0 for i in range(1000)}}
    problem = refused(api, send(api, method, path, json.dumps(body)), 422, "validation_failed")
    assert 20 == sum(len(messages) for messages in problem["errors"].values())
    assert 980 == problem["errorsOmitted"]


@pytest.mark.parametrize(BODY_ROUTE_ARGS, BODY_ROUTES)
def test_a_long_unknown_name_is_cut(
    api: Api, method: str, path: str, valid: Any, field: tuple[str, ...], lists: dict[str, int]
) -> None:
    """An unknown field with a 10 000-character name is named by its first 64 characters."""
    problem = refused(api, send(api, method, path, json.dumps({**valid(), "u" * 10_000: 1})), 422, "validation_failed")
    assert {"u" * 64 + "…": ["Unknown field."]} == problem["errors"]
    assert "errorsOmitted" not in problem


@pytest.mark.parametrize(
    ("method", "path", "body", "limit"),
    [
        pytest.param("POST", "/api/v1/records", record(), 64 * 1024, id="create-record"),
        pytest.param("PUT", f"/api/v1/emails/{ACTIVITY_ID}/regarding", regarding(), 16 * 1024, id="email-regarding"),
        pytest.param(
            "PUT", f"/api/v1/appointments/{ACTIVITY_ID}/regarding", regarding(), 16 * 1024, id="appointment-regarding"
        ),
    ],
)
def test_small_routes_take_small_bodies(api: Api, method: str, path: str, body: dict[str, Any], limit: int) -> None:
    """A route whose body is a few fields refuses one over its own limit with 413, far below the app-wide one."""
    padded = json.dumps(body)[:-1] + ", " + " " * limit + "}"
    refused(api, send(api, method, path, padded), 413, "payload_too_large")


def test_a_track_request_still_takes_a_large_body(api: Api) -> None:
    """The per-route limits leave tracking alone: an email with a 1 MiB body is tracked."""
    response = send(api, "POST", "/api/v1/emails", json.dumps({**email(), "body": "<p>" + "x" * MIB + "</p>"}))
    assert 201 == response.status_code, response.get_json()


def test_the_largest_request_the_api_takes_is_tracked(api: Api) -> None:
    """3 × 500 named recipients and 50 attachments are far inside the body's item limit: tracked."""

    def people(role: str) -> list[dict[str, str]]:
        return [{"address": f"{role}{i}@example.org", "name": f"Person {i}"} for i in range(500)]

    files = [{"name": f"a{i}.txt", "contentType": "text/plain", "contentBase64": "QUJD"} for i in range(50)]
    body = {**email(), "to": people("to"), "cc": people("cc"), "bcc": people("bcc"), "attachments": files}
    response = send(api, "POST", "/api/v1/emails", json.dumps(body))
    assert 201 == response.status_code, response.get_json()
    assert 1501 == len(response.get_json()["parties"])


def test_brackets_commas_and_quotes_inside_strings_are_text(api: Api) -> None:
    """A body whose text holds 100 000 commas, brackets and escaped quotes is counted as the few values it is."""
    text = '<p>{"a": [1, 2]}, \\"quoted\\", and so on</p>\n' * 25_000
    body = {**email(), "body": text, "bodyType": "text"}
    assert json.dumps(body).count(",") > 50_000
    assert 201 == send(api, "POST", "/api/v1/emails", json.dumps(body)).status_code


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"%ED%A0%80", id="encoded-surrogate"),
        pytest.param(b"%80abc", id="not-utf8"),
        pytest.param(b"%F0%9F", id="truncated"),
        pytest.param(b"\xff", id="raw-byte"),
    ],
)
@pytest.mark.parametrize(("path", "name"), QUERY_ROUTES)
def test_a_query_value_that_is_not_utf8_is_422_naming_it(api: Api, path: str, name: str, value: bytes) -> None:
    """Query values that are not UTF-8 are refused naming the parameter, not replaced and looked up in Dataverse."""
    response = send(api, "GET", path, b"", name.encode() + b"=" + value)
    problem = refused(api, response, 422, "validation_failed")
    assert {name: ["must be UTF-8 text"]} == problem["errors"]


@pytest.mark.parametrize(("path", "name"), QUERY_ROUTES)
def test_a_query_name_that_is_not_utf8_is_422(api: Api, path: str, name: str) -> None:
    """A parameter name that is not UTF-8 is refused without being echoed."""
    response = send(api, "GET", path, b"", b"x%ED%B0%80=1&" + name.encode() + b"=a")
    assert {"query": ["must have parameter names that are UTF-8 text"]} == refused(
        api, response, 422, "validation_failed"
    )["errors"]


@pytest.mark.parametrize(("path", "name"), QUERY_ROUTES)
def test_a_flood_of_query_parameters_is_422(api: Api, path: str, name: str) -> None:
    """Thousands of query parameters are refused by the parser before they are read."""
    query = "&".join(f"p{i}=1" for i in range(5000)).encode()
    response = send(api, "GET", path, b"", query)
    assert {"query": ["must have at most 16 parameters"]} == refused(api, response, 422, "validation_failed")["errors"]


@pytest.mark.parametrize("etag", ['W/"12\xe9"', 'W/"1 2"', '"\x7f"'])
@pytest.mark.parametrize("kind", ["emails", "appointments"])
def test_an_if_match_that_is_not_an_etag_is_422(api: Api, kind: str, etag: str) -> None:
    """If-Match must be an ETag of visible ASCII (Dataverse's are W/"<digits>") or `*`."""
    path = f"/api/v1/{kind}/{ACTIVITY_ID}/regarding"
    response = send(api, "PUT", path, json.dumps(regarding()), headers={"If-Match": etag})
    assert {"If-Match": ["must be an ETag from the tracked view, or *"]} == refused(
        api, response, 422, "validation_failed"
    )["errors"]
