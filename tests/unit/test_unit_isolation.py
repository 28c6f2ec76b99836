"""The unit suite's own guard: a unit test cannot reach the network."""

from __future__ import annotations

import socket

import pytest
from conftest import NetworkInUnitTest


def test_a_unit_test_cannot_open_a_connection() -> None:
    """Even to a listener on this machine, a connection fails with a message naming the rule."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with pytest.raises(NetworkInUnitTest, match="fake at the port"):
            socket.create_connection(listener.getsockname(), timeout=1)
