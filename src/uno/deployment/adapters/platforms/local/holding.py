"""The agent's side of the keeper's hold on its routers' listening sockets.

Why: the routers run inside the agent, so when the agent died its applications' ports
closed, and clients were refused until something started an agent again (issue 14). The
keeper (``keeper``), the agent's parent, holds a copy of every listening socket: while a
killed agent is being replaced the port stays open, the kernel completes new connections
into the socket's backlog, and the next agent accepts them from the same socket.

How a socket reaches the keeper: the agent binds it, then sends it over its channel to
the keeper (a ``SOCK_SEQPACKET`` pair, one JSON message per packet, the descriptor
attached with ``SCM_RIGHTS``). A router the agent closes for good is released: the keeper
closes its copy, and the port is free again. An agent forked by the keeper starts with
the held sockets (``inherited``) and serves them instead of binding again.

Invariants:
- a port has at most one listening socket: an inherited one is served, never bound again;
- a message that cannot be sent (no keeper, or it died) is logged once and dropped; the
  agent then runs as it did before keepers existed (its ports close when it dies);
- sockets inherited but not claimed once the agent has restored its routers are released.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

KEEPER_LOCK = "keeper.lock"
BACKLOG = 4096  # connections the kernel completes while no agent accepts (capped by net.core.somaxconn)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0 picks a port), ready for an asyncio server."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(BACKLOG)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener


def encode(message: dict[str, object]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


class Holding:
    """The listening sockets the agent got from its keeper, and its channel to hand it new ones."""

    def __init__(
        self, channel: socket.socket | None = None, inherited: Mapping[int, socket.socket] | None = None
    ) -> None:
        self._channel = channel
        self._inherited = dict(inherited or {})
        for held in self._inherited.values():
            os.set_inheritable(held.fileno(), False)  # never reaches a replica

    @property
    def kept(self) -> bool:
        """True while a keeper holds our sockets."""
        return self._channel is not None

    def socket_for(self, host: str, port: int) -> socket.socket:
        """The listening socket for ``port``: the one the keeper held, else a new one handed to the keeper."""
        held = self._inherited.pop(port, None) if port else None
        if held is not None:
            held.setblocking(False)
            return held
        listener = listen(host, port)
        self._send({"hold": listener.getsockname()[1]}, [listener.fileno()])
        return listener

    def release(self, port: int) -> None:
        """The router on ``port`` is gone for good: the keeper lets the port go too."""
        held = self._inherited.pop(port, None)
        if held is not None:
            held.close()
        self._send({"release": port}, [])

    def release_unclaimed(self) -> None:
        for port in list(self._inherited):
            self.release(port)

    def _send(self, message: dict[str, object], descriptors: list[int]) -> None:
        if self._channel is None:
            return
        try:
            socket.send_fds(self._channel, [encode(message)], descriptors)
        except OSError as error:  # the keeper died (or stopped reading): carry on without it
            log.warning("the keeper does not hold the agent's sockets any more: %s", error)
            self._channel.close()
            self._channel = None


# -- the keeper's hold on the state directory: one keeper per directory, seen gone once its lock is free


def lock_directory(state_dir: Path) -> int | None:
    """Hold ``state_dir``'s keeper lock (a descriptor), or None when another keeper holds it."""
    descriptor = os.open(state_dir / KEEPER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def keeper_running(state_dir: Path) -> bool:
    """True while a keeper holds ``state_dir`` (the lock goes with its process, even when it is killed)."""
    try:
        descriptor = os.open(state_dir / KEEPER_LOCK, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False
