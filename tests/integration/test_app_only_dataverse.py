"""App-only Dataverse access through the wiring: client-credentials tokens from real MSAL, and impersonation.

https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/impersonate-another-user-web-api
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from conftest import Devstack, make_settings

from addin_api.dataverse.batch import BatchRequest
from addin_api.devstack.config import ADDIN_CLIENT_ID, DEMO_APPLICATION_USERS, DEMO_USERS, DevUser, application_user
from addin_api.devstack.server import DevstackServer
from addin_api.errors import ApplicationUserMissing, DataverseForbidden, ImpersonationNotAllowed
from addin_api.wiring import AppAccess, build_app_access

APP_USER = DEMO_APPLICATION_USERS[0]
ALICE, CAROL = DEMO_USERS[0], DEMO_USERS[2]


def access(devstack: Devstack) -> AppAccess:
    """App-only access wired as the worker and the CLI wire it, against `devstack`."""
    return build_app_access(make_settings(devstack))


def environment(devstack: Devstack) -> str:
    """The devstack's Dataverse environment URL."""
    return str(devstack.config["environmentUrl"])


def emails_with(devstack: Devstack, subject: str) -> list[dict[str, str]]:
    """Who created the emails with `subject` and on whose behalf (read as the application user)."""
    dv = access(devstack).dataverse(environment(devstack))
    found = dv.get(
        "emails",
        {"$select": "_createdby_value,_createdonbehalfby_value", "$filter": f"subject eq '{subject}'"},
    )
    return [{"by": r["_createdby_value"], "on_behalf_of": r["_createdonbehalfby_value"]} for r in found["value"]]


def own_devstack(tmp_path: Path, application_users: tuple[DevUser, ...]) -> Iterator[Devstack]:
    """A devstack of its own, with these application users."""
    server = DevstackServer(tmp_path, port=0, application_users=application_users).start()
    stack = Devstack(server)
    try:
        yield stack
    finally:
        stack.http.close()
        server.stop()


@pytest.fixture()
def bare_devstack(tmp_path: Path) -> Iterator[Devstack]:
    """An environment without an application user for the add-in's registration."""
    yield from own_devstack(tmp_path, ())


@pytest.fixture()
def no_impersonation_devstack(tmp_path: Path) -> Iterator[Devstack]:
    """An environment whose application user lacks prvActOnBehalfOfAnotherUser."""
    user = application_user(
        ADDIN_CLIENT_ID, "Contoso Dataverse Add-in", APP_USER.systemuserid, named_privileges=frozenset()
    )
    yield from own_devstack(tmp_path, (user,))


def test_the_app_token_is_app_only_for_the_environment(devstack: Devstack) -> None:
    """A client-credentials token: audience the environment, issued to the app (no user, no scopes)."""
    tenant, url = access(devstack).environment()
    token = access(devstack).tokens(tenant).token(url)

    claims = jwt.decode(token, options={"verify_signature": False})
    assert (url, ADDIN_CLIENT_ID, None) == (claims["aud"].rstrip("/"), claims["appid"], claims.get("scp"))


def test_the_app_token_is_cached_until_refresh_is_forced(devstack: Devstack) -> None:
    """A second token comes from MSAL's cache; `force_refresh` asks the token endpoint again."""
    app = access(devstack)
    tenant, url = app.environment()
    devstack.clear_log()

    app.tokens(tenant).token(url)
    app.tokens(tenant).token(url)
    cached = len([e for e in devstack.requests_log("identity") if e["path"].endswith("/token")])
    app.tokens(tenant).token(url, force_refresh=True)
    refreshed = len([e for e in devstack.requests_log("identity") if e["path"].endswith("/token")])

    assert (1, 2) == (cached, refreshed)


def test_without_impersonation_the_client_acts_as_the_application_user(devstack: Devstack) -> None:
    """WhoAmI through the app-only client names the application user."""
    who = access(devstack).dataverse(environment(devstack)).get("WhoAmI")

    assert APP_USER.systemuserid == who["UserId"]


def test_acting_as_a_user_writes_as_that_user_on_behalf_of_the_app(devstack: Devstack) -> None:
    """Created by alice, on behalf of the application user, for a plain create and for a `$batch` part."""
    dv = access(devstack).dataverse(environment(devstack), acting_as=ALICE.oid)

    dv.create("emails", {"subject": "Impersonated create"})
    [part] = dv.batch(
        [BatchRequest("POST", "emails", {"subject": "Impersonated batch"})],
        idempotent=False,
    )
    dv.raise_for(part)

    expected = [{"by": ALICE.systemuserid, "on_behalf_of": APP_USER.systemuserid}]
    assert expected == emails_with(devstack, "Impersonated create")
    assert expected == emails_with(devstack, "Impersonated batch")
    assert ALICE.systemuserid == dv.get("WhoAmI")["UserId"]


def test_acting_as_a_user_is_bounded_by_that_users_roles(devstack: Devstack) -> None:
    """Carol (read-only) cannot create through the app: an ordinary privilege error, not an impersonation one."""
    dv = access(devstack).dataverse(environment(devstack), acting_as=CAROL.oid)

    with pytest.raises(DataverseForbidden):
        dv.create("emails", {"subject": "As carol"})
    assert [] == emails_with(devstack, "As carol")


def test_no_application_user_is_its_own_error(bare_devstack: Devstack) -> None:
    """403 0x80072560 for an app-only token becomes `application_user_missing`, with or without impersonation."""
    app = access(bare_devstack)

    with pytest.raises(ApplicationUserMissing) as plain:
        app.dataverse(environment(bare_devstack)).get("WhoAmI")
    with pytest.raises(ApplicationUserMissing) as acting:
        app.dataverse(environment(bare_devstack), acting_as=ALICE.oid).create("emails", {"subject": "No app user"})

    assert ("application_user_missing", 403) == (plain.value.code, plain.value.status)
    assert "application_user_missing" == acting.value.code


def test_impersonation_without_the_privilege_is_its_own_error(no_impersonation_devstack: Devstack) -> None:
    """An application user without prvActOnBehalfOfAnotherUser: `impersonation_not_allowed`, and nothing written."""
    app = access(no_impersonation_devstack)
    url = environment(no_impersonation_devstack)

    with pytest.raises(ImpersonationNotAllowed) as refused:
        app.dataverse(url, acting_as=ALICE.oid).create("emails", {"subject": "Not allowed"})

    assert ("impersonation_not_allowed", 403) == (refused.value.code, refused.value.status)
    assert [] == emails_with(no_impersonation_devstack, "Not allowed")
    assert APP_USER.systemuserid == app.dataverse(url).get("WhoAmI")["UserId"]


def test_an_unconfigured_environment_is_refused(devstack: Devstack) -> None:
    """Only environments named in the settings are reached (never one taken from input)."""
    with pytest.raises(LookupError):
        access(devstack).dataverse("https://elsewhere.crm.dynamics.com")
