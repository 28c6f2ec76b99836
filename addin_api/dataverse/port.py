"""The port the services reach Dataverse through: what they call on `DataverseClient` (a fake in unit tests)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from addin_api.dataverse.batch import BatchRequest, BatchResponse, ChangeSet


class Dataverse(Protocol):
    """A Dataverse Web API client acting as the caller."""

    def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        annotations: bool = False,
        max_page_size: int | None = None,
    ) -> dict[str, Any]:
        """GET a record or a collection."""
        ...

    def create(
        self,
        entity_set: str,
        body: Mapping[str, Any],
        *,
        select: Sequence[str] | None = None,
        idempotent: bool = False,
        annotations: bool = False,
    ) -> dict[str, Any]:
        """POST a record."""
        ...

    def update(
        self,
        entity_set: str,
        record_id: str,
        body: Mapping[str, Any],
        *,
        if_match: str | None = "*",
        if_none_match: str | None = None,
        select: Sequence[str] | None = None,
        annotations: bool = False,
    ) -> dict[str, Any] | None:
        """PATCH a record."""
        ...

    def delete(self, entity_set: str, record_id: str) -> None:
        """DELETE a record."""
        ...

    def delete_ref(self, entity_set: str, record_id: str, navigation_property: str) -> None:
        """Clear a single-valued navigation property."""
        ...

    def batch(
        self,
        items: Sequence[BatchRequest | ChangeSet],
        *,
        continue_on_error: bool = False,
        idempotent: bool | None = None,
    ) -> list[BatchResponse]:
        """Send one `$batch`."""
        ...

    def raise_for(self, response: BatchResponse, *, precondition_means_duplicate: bool = False) -> None:
        """Raise our exception for a failed batch part."""
        ...
