"""Ports on this machine: binding one for a server, and saying who holds one that is taken.

``uno-deploy serve`` binds its socket itself, before it says it is serving, so a taken
port is one line naming it and, on Linux, the process that listens there (found through
``/proc/net/tcp*`` and the processes' open sockets; a process of another user may not
be visible, and then the line just says the port is taken).
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening (so a client may connect at once); OSError if not.

    IPv6 when the host has a ``:``, else IPv4 (a name such as ``localhost`` resolved as IPv4),
    as uvicorn binds when given a host and a port.
    """
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host.strip("[]"), port))
        listener.listen(2048)
    except OSError:
        listener.close()
        raise
    return listener


def refusal(host: str, port: int, error: OSError) -> str:
    """One line for a bind that failed: which address, why, and who holds the port if that can be told."""
    if error.errno != errno.EADDRINUSE:
        return f"cannot listen on {host}:{port}: {error.strerror or error}"
    holder = holder_of(port)
    held = f" by {holder}" if holder else ""
    return f"cannot listen on {host}:{port}: the port is taken{held} (choose another with --port)"


def holder_of(port: int) -> str | None:
    """``pid 1234 (python3 app.py)``: the process listening on ``port``, or None when it cannot be told."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    for process in PROC.glob("[0-9]*"):
        try:
            for descriptor in (process / "fd").iterdir():
                target = descriptor.readlink().as_posix()
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return f"pid {process.name} ({_command_line(process)})"
        except OSError:
            continue
    return None


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rpartition(":")[2], 16) == port:
                inodes.add(fields[9])
    return inodes


def _command_line(process: Path) -> str:
    try:
        words = (process / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    return " ".join(word.decode(errors="replace") for word in words if word)[:120] or "?"
