"""Ports that count what goes through them: Graph requests and Dataverse round trips (a `$batch` is one).

The sync passes measure each tracked item's cost at these ports, as the bench and `addin-api sync --once` report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from addin_api.dataverse.batch import BatchRequest, BatchResponse, ChangeSet
from addin_api.dataverse.port import Dataverse
from addin_api.sync.graph import DELTA_FIELDS, DeltaPage, MailFolder, MasterCategory, WellKnownFolder

__all__ = ["CountingDataverse", "CountingGraph", "MailboxGraph"]


class MailboxGraph(Protocol):
    """What a pass asks of Graph (`sync.graph.GraphClient`; each call one request, each delta page one)."""

    def mail_folder(self, user: str, name: WellKnownFolder) -> MailFolder:
        """The user's folder by well-known name."""
        ...

    def messages_delta(
        self,
        user: str,
        folder_id: str,
        select: Sequence[str] = DELTA_FIELDS,
        *,
        delta_link: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[DeltaPage]:
        """The pages of one delta round."""
        ...

    def message(self, user: str, message_id: str) -> dict[str, Any]:
        """One message with its attachments."""
        ...

    def calendar_delta(self, user: str, start: str, end: str, *, delta_link: str | None = None) -> Iterator[DeltaPage]:
        """The pages of one delta round of the calendar's events in a window."""
        ...

    def message_headers(self, user: str, message_id: str) -> list[dict[str, Any]]:
        """A message's Internet headers."""
        ...

    def set_event_categories(self, user: str, event_id: str, categories: Sequence[str]) -> None:
        """Replace an event's categories."""
        ...

    def master_categories(self, user: str) -> list[MasterCategory]:
        """The mailbox's master categories."""
        ...

    def child_folders(self, user: str, parent_id: str | None = None) -> list[MailFolder]:
        """The folders under a folder (None: the top-level ones)."""
        ...

    def folder(self, user: str, folder_id: str) -> MailFolder:
        """One folder by id, with the folder it is in."""
        ...

    def create_master_category(self, user: str, display_name: str, color: str = "none") -> MasterCategory:
        """Add a master category."""
        ...

    def set_categories(self, user: str, message_id: str, categories: Sequence[str]) -> None:
        """Replace a message's categories."""
        ...


class CountingGraph:
    """A `MailboxGraph` that counts the requests sent through it."""

    def __init__(self, graph: MailboxGraph) -> None:
        self._graph = graph
        self.requests = 0

    def mail_folder(self, user: str, name: WellKnownFolder) -> MailFolder:
        """The user's folder by well-known name."""
        self.requests += 1
        return self._graph.mail_folder(user, name)

    def messages_delta(
        self,
        user: str,
        folder_id: str,
        select: Sequence[str] = DELTA_FIELDS,
        *,
        delta_link: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[DeltaPage]:
        """The pages of one delta round (one request each)."""
        return self._counted_pages(
            self._graph.messages_delta(user, folder_id, select, delta_link=delta_link, page_size=page_size)
        )

    def _counted_pages(self, pages: Iterator[DeltaPage]) -> Iterator[DeltaPage]:
        while True:
            self.requests += 1
            try:
                page = next(pages)
            except StopIteration:
                self.requests -= 1  # the round ended after its last page: no request was sent
                return
            yield page

    def message(self, user: str, message_id: str) -> dict[str, Any]:
        """One message with its attachments."""
        self.requests += 1
        return self._graph.message(user, message_id)

    def calendar_delta(self, user: str, start: str, end: str, *, delta_link: str | None = None) -> Iterator[DeltaPage]:
        """The pages of one delta round of the calendar's events (one request each)."""
        return self._counted_pages(self._graph.calendar_delta(user, start, end, delta_link=delta_link))

    def message_headers(self, user: str, message_id: str) -> list[dict[str, Any]]:
        """A message's Internet headers."""
        self.requests += 1
        return self._graph.message_headers(user, message_id)

    def set_event_categories(self, user: str, event_id: str, categories: Sequence[str]) -> None:
        """Replace an event's categories."""
        self.requests += 1
        self._graph.set_event_categories(user, event_id, categories)

    def master_categories(self, user: str) -> list[MasterCategory]:
        """The mailbox's master categories."""
        self.requests += 1
        return self._graph.master_categories(user)

    def child_folders(self, user: str, parent_id: str | None = None) -> list[MailFolder]:
        """The folders under a folder (one request per page; counted as one)."""
        self.requests += 1
        return self._graph.child_folders(user, parent_id)

    def folder(self, user: str, folder_id: str) -> MailFolder:
        """One folder by id, with the folder it is in."""
        self.requests += 1
        return self._graph.folder(user, folder_id)

    def create_master_category(self, user: str, display_name: str, color: str = "none") -> MasterCategory:
        """Add a master category."""
        self.requests += 1
        return self._graph.create_master_category(user, display_name, color)

    def set_categories(self, user: str, message_id: str, categories: Sequence[str]) -> None:
        """Replace a message's categories."""
        self.requests += 1
        self._graph.set_categories(user, message_id, categories)


class CountingDataverse:
    """A `Dataverse` port that counts its round trips (a `$batch` is one)."""

    def __init__(self, dv: Dataverse) -> None:
        self._dv = dv
        self.round_trips = 0

    def _counted(self, call: Callable[[], Any]) -> Any:
        self.round_trips += 1
        return call()

    def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        annotations: bool = False,
        max_page_size: int | None = None,
    ) -> dict[str, Any]:
        """GET a record or a collection."""
        result: dict[str, Any] = self._counted(
            lambda: self._dv.get(path, params, annotations=annotations, max_page_size=max_page_size)
        )
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
        """POST a record."""
        result: dict[str, Any] = self._counted(
            lambda: self._dv.create(entity_set, body, select=select, idempotent=idempotent, annotations=annotations)
        )
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
        """PATCH a record."""
        result: dict[str, Any] | None = self._counted(
            lambda: self._dv.update(
                entity_set,
                record_id,
                body,
                if_match=if_match,
                if_none_match=if_none_match,
                select=select,
                annotations=annotations,
            )
        )
        return result

    def delete(self, entity_set: str, record_id: str) -> None:
        """DELETE a record."""
        self._counted(lambda: self._dv.delete(entity_set, record_id))

    def delete_ref(self, entity_set: str, record_id: str, navigation_property: str) -> None:
        """Clear a single-valued navigation property."""
        self._counted(lambda: self._dv.delete_ref(entity_set, record_id, navigation_property))

    def batch(
        self,
        items: Sequence[BatchRequest | ChangeSet],
        *,
        continue_on_error: bool = False,
        idempotent: bool | None = None,
    ) -> list[BatchResponse]:
        """Send one `$batch`."""
        result: list[BatchResponse] = self._counted(
            lambda: self._dv.batch(items, continue_on_error=continue_on_error, idempotent=idempotent)
        )
        return result

    def raise_for(self, response: BatchResponse, *, precondition_means_duplicate: bool = False) -> None:
        """Raise our exception for a failed batch part (no round trip)."""
        self._dv.raise_for(response, precondition_means_duplicate=precondition_means_duplicate)
