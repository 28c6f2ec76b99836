"""The deterministic ids of seeded records, and the two the emulated environment answers WhoAmI with.

A leaf (imports no other devstack module): the Web API routes need the organization and business unit ids without
importing the seed data itself.
"""

from __future__ import annotations

import uuid

SEED_NAMESPACE = uuid.UUID("3f6c2a0e-9d1b-4e7a-8c5f-2b1d0e9a7c64")


def seed_id(kind: str, name: str) -> str:
    """The deterministic id of a seeded record."""
    return str(uuid.uuid5(SEED_NAMESPACE, f"{kind}:{name}"))


BUSINESS_UNIT_ID = seed_id("businessunit", "contoso")
ORGANIZATION_ID = seed_id("organization", "contoso")
