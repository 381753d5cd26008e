"""The router's CPU instructions per proxied request, counted by callgrind: a figure that noise does not move.

    .venv/bin/python benchmarks/router_instructions.py [--requests 1000 3000] [--connections 16] [--loop uvloop|asyncio]

Throughput ratios on a shared two-core machine move with whatever else runs; instructions
do not. This runs the router (in a process of its own, under ``valgrind --tool=callgrind``)
in front of ``examples/hello``, and sends it exactly ``--requests`` ``GET /`` requests over
``--connections`` keep-alive connections from a child process that callgrind does not
count. It does so once per request count and prints the difference in instructions divided
by the difference in requests, so that starting Python and importing the router cancel
out. Kernel work (the system calls' own cost) is not counted: the figure is the router's
Python and C code, event loop included (the local agent's loop, ``loops.chosen()``, unless
``--loop`` names one). Everything runs on 127.0.0.1 and stops by itself
(about two minutes with the defaults; callgrind slows the router some fifty times).

Needs valgrind (``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import cast

from uno.deployment.adapters.platforms.local import loops
from uno.deployment.adapters.platforms.local.routing import Router

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "examples" / "hello" / "app.py"
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
DEADLINE = 600.0  # seconds the load may take under callgrind before the run is abandoned


class CountingClient(asyncio.Protocol):
    """One keep-alive connection sending ``count`` requests, each once the previous response has arrived."""

    def __init__(self, count: int, done: asyncio.Future[None]) -> None:
        self.left = count
        self.done = done
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio's classes
        transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            if not head.startswith(b"http/1.1 200"):
                raise RuntimeError(f"unexpected response: {head[:40]!r}")
            found = re.search(rb"\r\ncontent-length: *(\d+)", head)
            if found is None:
                raise RuntimeError("a response without Content-Length")
            length = int(found.group(1))
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.left -= 1
            if not self.left:
                self.transport.close()
                self.done.set_result(None)
                return
            self.transport.write(REQUEST)


async def load(port: int, requests: int, connections: int) -> None:
    loop = asyncio.get_running_loop()
    finished = []
    for index in range(connections):
        count = requests // connections + (index < requests % connections)
        done: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(lambda count=count, done=done: CountingClient(count, done), "127.0.0.1", port)  # type: ignore[misc]
        finished.append(done)
    await asyncio.wait_for(asyncio.gather(*finished), DEADLINE)


async def serve(requests: int, connections: int) -> None:
    """The measured process: the router, with the application and the load in children."""
    environment = {**os.environ, "PORT": "0"}
    app = await asyncio.create_subprocess_exec(
        sys.executable, str(APP), env=environment, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    router = Router("127.0.0.1", 0)
    try:
        assert app.stdout is not None
        line = await asyncio.wait_for(app.stdout.readline(), 10.0)
        await router.start()
        router.set_backends("v1", [("127.0.0.1", int(line.decode().rsplit(":", 1)[1]))])
        router.set_weights({"v1": 1})
        client = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--load", str(router.port), str(requests), "--connections", str(connections)
        )
        if await asyncio.wait_for(client.wait(), DEADLINE) != 0:
            raise RuntimeError("the load generator failed")
        stats = router.stats("v1")
        if (stats.requests, stats.errors) != (requests, 0):
            raise RuntimeError(f"{stats.requests} requests, {stats.errors} errors routed; expected {requests}, 0")
    finally:
        await router.stop()
        app.terminate()
        await app.wait()


def instructions(requests: int, connections: int, loop: str, directory: str) -> int:
    output = os.path.join(directory, f"callgrind.{requests}.out")
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={output}",
        sys.executable,
        __file__,
        "--serve",
        str(requests),
        "--connections",
        str(connections),
        "--loop",
        loop,
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=DEADLINE)
    with open(output) as profile:
        for line in profile:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no total")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, nargs="+", default=[1000, 3000], help="two request counts")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--serve", type=int, metavar="REQUESTS", help=argparse.SUPPRESS)  # the measured process
    parser.add_argument("--load", type=int, nargs=2, metavar=("PORT", "REQUESTS"), help=argparse.SUPPRESS)
    parser.add_argument("--loop", choices=loops.LOOPS, default=None, help="default: the local agent's loop")
    arguments = parser.parse_args()
    loop = arguments.loop or loops.chosen()
    connections = arguments.connections
    if arguments.load:
        asyncio.run(load(*arguments.load, connections))
        return
    if arguments.serve:
        loops.run(serve(arguments.serve, connections), loop)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed: apt-get install valgrind")
    fewer, more = sorted(arguments.requests)[:1] + sorted(arguments.requests)[-1:]
    if fewer == more:
        sys.exit("--requests needs two different counts")
    with tempfile.TemporaryDirectory() as directory:
        counts = {requests: instructions(requests, connections, loop, directory) for requests in (fewer, more)}
    per_request = (counts[more] - counts[fewer]) / (more - fewer)
    print(f"router on {loop}, {connections} keep-alive connections, {fewer:,} and {more:,} requests under callgrind")
    print(f"instructions per proxied request: {per_request:,.0f}")


if __name__ == "__main__":
    main()
