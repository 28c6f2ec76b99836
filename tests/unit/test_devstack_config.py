"""The devstack's configured users are found by (tenant, object id) whatever the list holds."""

from __future__ import annotations

import dataclasses

from addin_api.devstack.config import DEMO_USERS, DevConfig, synthetic_users


def test_users_are_found_by_tenant_and_oid_after_the_list_changes() -> None:
    """A lookup sees users added later, the first of two with one principal, and nobody in another tenant."""
    config = DevConfig(client_secret="s")
    bench = synthetic_users(2)
    assert None is config.user_by_oid(bench[0].tenant_id, bench[0].oid)
    config.users = (*DEMO_USERS, *bench, dataclasses.replace(bench[0], upn="twin@contoso.example"))
    assert bench[0] == config.user_by_oid(bench[0].tenant_id, bench[0].oid)
    assert None is config.user_by_oid("another-tenant", bench[1].oid)
    replaced = dataclasses.replace(config, users=bench[1:])
    assert (None, bench[1]) == (
        replaced.user_by_oid(bench[0].tenant_id, bench[0].oid),
        replaced.user_by_oid(bench[1].tenant_id, bench[1].oid),
    )
