"""The keeper's hold on a listening socket, through the real channel: held, a port queues; released, it closes.

In-process on 127.0.0.1: the agent's side (``Holding``) hands its socket over as it does to
its keeper (``SCM_RIGHTS`` over a ``SOCK_SEQPACKET`` pair), and the keeper's side receives it.
"""

from __future__ import annotations

import selectors
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from uno.deployment.adapters.platforms.local.holding import Holding
from uno.deployment.adapters.platforms.local.keeper import Keeper

pytestmark = pytest.mark.integration


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Holding, Keeper, socket.socket]]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    keeper = Keeper(tmp_path, "asyncio")
    keeper._selector.register(ours, selectors.EVENT_READ, "channel")
    try:
        yield Holding(theirs), keeper, ours
    finally:
        keeper.close()
        theirs.close()
        if ours.fileno() >= 0:
            ours.close()


def connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return False
    return True


def test_a_held_port_takes_connections_while_nobody_serves_it(pair: tuple[Holding, Keeper, socket.socket]):
    holding, keeper, channel = pair
    listener = holding.socket_for("127.0.0.1", 0)
    port = listener.getsockname()[1]

    keeper._receive(channel)
    listener.close()  # the agent is gone

    assert list(keeper.held) == [port]
    assert connects(port)  # queued in the backlog for the next agent, not refused


def test_a_released_port_is_let_go(pair: tuple[Holding, Keeper, socket.socket]):
    holding, keeper, channel = pair
    listener = holding.socket_for("127.0.0.1", 0)
    port = listener.getsockname()[1]
    keeper._receive(channel)

    listener.close()
    holding.release(port)
    keeper._receive(channel)

    assert keeper.held == {}
    assert not connects(port)


def test_an_inherited_socket_is_served_again_not_bound_twice(pair: tuple[Holding, Keeper, socket.socket]):
    holding, keeper, channel = pair
    first = holding.socket_for("127.0.0.1", 0)
    port = first.getsockname()[1]
    keeper._receive(channel)
    first.close()
    next_agent = Holding(None, dict(keeper.held))

    served = next_agent.socket_for("127.0.0.1", port)

    assert served.fileno() == keeper.held[port].fileno()  # the keeper's own socket, as a forked agent has it
    assert connects(port)


def test_without_a_keeper_the_agent_binds_and_goes_on(tmp_path: Path):
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.close()  # the keeper died
    holding = Holding(theirs)

    listener = holding.socket_for("127.0.0.1", 0)

    assert not holding.kept
    assert connects(listener.getsockname()[1])
    listener.close()
