"""Marks of messages being composed: a random token per message, kept per mailbox for a while; the header that
carries it found among a message's Internet headers."""

from __future__ import annotations

from addin_api.model import RegardingRef
from addin_api.sync import compose
from addin_api.sync.store import InMemoryStore

SCOPE, OTHER = "env oid-a", "env oid-b"
RECORD = RegardingRef("account", "6f1c0000-0000-4000-8000-000000000001")


def test_a_mark_is_known_only_in_its_mailbox_and_only_while_pending() -> None:
    store = InMemoryStore()
    token, until = compose.mark(store, SCOPE, RECORD, now=1000.0)
    assert until == 1000.0 + compose.PENDING_SECONDS
    assert (True, RECORD) == compose.lookup(store, SCOPE, token, now=2000.0)
    assert (False, None) == compose.lookup(store, OTHER, token, now=2000.0)
    assert (False, None) == compose.lookup(store, SCOPE, token, now=until + 1)
    assert compose.pending(store, SCOPE, now=2000.0) and not compose.pending(store, SCOPE, now=until + 1)
    assert not compose.pending(store, OTHER, now=2000.0)


def test_tokens_are_random_and_a_mark_without_a_record_tracks_without_regarding() -> None:
    store = InMemoryStore()
    first, _ = compose.mark(store, SCOPE, None, now=1000.0)
    second, _ = compose.mark(store, SCOPE, None, now=1000.0)
    assert first != second and len(first) >= 20
    assert (True, None) == compose.lookup(store, SCOPE, first, now=1001.0)


def test_a_later_mark_never_shortens_the_mailboxs_pending_window() -> None:
    store = InMemoryStore()
    compose.mark(store, SCOPE, None, now=5000.0)
    compose.mark(store, SCOPE, None, now=1000.0)  # a clock behind, on another instance
    assert compose.pending(store, SCOPE, now=5000.0 + compose.PENDING_SECONDS - 1)


def test_the_header_is_found_whatever_its_case_and_an_oversized_value_is_ignored() -> None:
    headers = [{"name": "Message-ID", "value": "<a@b>"}, {"name": "X-AddIn-Api-Track", "value": " tok "}]
    assert "tok" == compose.token_in(headers)
    assert compose.token_in([{"name": compose.HEADER, "value": "x" * 65}]) is None
    assert compose.token_in([{"name": "x-other", "value": "tok"}]) is None


def test_a_mailbox_keeps_at_most_its_newest_marks() -> None:
    """Past MAX_MARKS, the oldest mark is forgotten: marking in a loop cannot fill the store."""
    store = InMemoryStore()
    tokens = [compose.mark(store, SCOPE, None, now=1000.0)[0] for _ in range(compose.MAX_MARKS + 3)]
    assert [False, False, False, True] == [compose.lookup(store, SCOPE, t, now=1001.0)[0] for t in tokens[:4]]
    assert compose.lookup(store, SCOPE, tokens[-1], now=1001.0)[0]
