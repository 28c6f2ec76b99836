"""A hand-written Dataverse client for unit tests: it records every call and answers canned rows, in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from addin_api.dataverse.batch import BatchRequest, BatchResponse, ChangeSet
from addin_api.errors import DataverseError, DataverseForbidden, NotFound

ERRORS: dict[int, type[Exception]] = {403: DataverseForbidden, 404: NotFound}


def ok(body: Any = None, status: int = 200) -> BatchResponse:
    """A successful batch part."""
    return BatchResponse(status, {}, body, None)


def rows(*values: dict[str, Any]) -> BatchResponse:
    """A successful collection part."""
    return ok({"value": list(values)})


def failed(status: int) -> BatchResponse:
    """A failed batch part."""
    return BatchResponse(status, {}, {"error": {"code": "0x0", "message": "no"}}, None)


class FakeDataverse:
    """Implements the port the services call; each call takes the next canned answer of its method."""

    def __init__(self, **answers: Sequence[Any]) -> None:
        self.answers = {name: list(values) for name, values in answers.items()}
        self.calls: list[tuple[str, Any]] = []

    def _answer(self, method: str, request: Any) -> Any:
        self.calls.append((method, request))
        answer = self.answers[method].pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def round_trips(self) -> int:
        """How many requests reached Dataverse."""
        return len(self.calls)

    def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        annotations: bool = False,
        max_page_size: int | None = None,
    ) -> dict[str, Any]:
        """GET: the next canned record."""
        result: dict[str, Any] = self._answer("get", {"path": path, "annotations": annotations})
        return result

    def create(
        self,
        entity_set: str,
        body: Mapping[str, Any],
        *,
        select: Sequence[str] | None = None,
        idempotent: bool = False,
        annotations: bool = False,
    ) -> dict[str, Any]:
        """POST: the next canned representation."""
        result: dict[str, Any] = self._answer("create", {"entity_set": entity_set, "body": dict(body)})
        return result

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
        """PATCH: the next canned representation."""
        request = {"entity_set": entity_set, "id": record_id, "body": dict(body), "if_match": if_match}
        result: dict[str, Any] | None = self._answer("update", request)
        return result

    def delete(self, entity_set: str, record_id: str) -> None:
        """DELETE: recorded."""
        self.calls.append(("delete", {"entity_set": entity_set, "id": record_id}))

    def delete_ref(self, entity_set: str, record_id: str, navigation_property: str) -> None:
        """DELETE $ref: recorded."""
        self.calls.append(("delete_ref", {"entity_set": entity_set, "id": record_id, "property": navigation_property}))

    def batch(
        self,
        items: Sequence[BatchRequest | ChangeSet],
        *,
        continue_on_error: bool = False,
        idempotent: bool | None = None,
    ) -> list[BatchResponse]:
        """$batch: the next canned list of parts."""
        result: list[BatchResponse] = self._answer("batch", list(items))
        return result

    def raise_for(self, response: BatchResponse, *, precondition_means_duplicate: bool = False) -> None:
        """Raise for a failed part as the client does: 403 forbidden, 404 not found, else a Dataverse error."""
        if not response.ok:
            raise ERRORS.get(response.status, DataverseError)()
