"""What a ``kill -9`` of the local agent costs an application under load: failed requests and seconds of outage.

    .venv/bin/python benchmarks/agent_kill.py [--kills 3] [--interval 4] [--connections 8] [--mode both]

Everything runs on 127.0.0.1 and stops by itself (about 45 s with the defaults). The
application is ``examples/hello``, two replicas, deployed through the local driver in a
temporary directory. ``--connections`` keep-alive clients in this process send ``GET /``
one after another (a client whose request failed waits 10 ms, then connects again);
every ``--interval`` seconds the agent is killed with SIGKILL, ``--kills`` times.

Two runs, in this order, on the same machine and load:
- ``baseline``: the agent started on its own (``python -m ...local.agent --detach``), as
  before keepers existed: nothing restarts it, so the port stays closed until the next
  call of the driver; the run kills it once and watches for ``--interval`` seconds.
- ``keeper``: the agent started by the driver under its keeper, which holds the ports and
  restarts the agent.

Per kill it prints: failed requests (and, of them, connections refused), requests sent
after the kill that failed, and the outage: the longest time without a successful
response from the last success before the kill to the next kill (or the end), "never
came back" when the application was not answering any more at that point.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from uno.core.result import Success
from uno.deployment.adapters.platforms.local import wire
from uno.deployment.adapters.platforms.local.driver import LocalDriver
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import new_config_id
from uno.deployment.ports.platforms import Release

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "examples" / "hello" / "app.py"
TIMEOUT = 10.0  # seconds a request may take before it counts as failed
RETRY = 0.01


@dataclass
class Outcomes:
    """Every request's end: (sent, ended) for successes, (sent, ended, kind) for failures."""

    successes: list[tuple[float, float]] = field(default_factory=list)
    failures: list[tuple[float, float, str]] = field(default_factory=list)


async def client(port: int, outcomes: Outcomes, until: float) -> None:
    reader = writer = None
    request = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    while time.monotonic() < until:
        sent = time.monotonic()
        try:
            async with asyncio.timeout(TIMEOUT):
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                assert reader is not None
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                raise ValueError(head.split(b"\r\n")[0].decode())
            outcomes.successes.append((sent, time.monotonic()))
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError) as error:
            kind = "refused" if isinstance(error, ConnectionRefusedError) else type(error).__name__
            outcomes.failures.append((sent, time.monotonic(), kind))
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(RETRY)
    if writer is not None:
        writer.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def release(port: int) -> Release:
    settings = {"command": [sys.executable, str(APP)], "port": port}  # probed at network.health_check_path, /health
    given = {"app_name": "hello", "app_version": "1.0.0", "environment": "dev", "custom_settings": settings}
    return Release("benchmark", configuring.build(new_config_id(), given, datetime.now(UTC)).value)


async def agent_pid(driver: LocalDriver, other_than: int | None = None, within: float = 30.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        pinged = await wire.call(driver.socket_path, {"op": "ping"}, timeout=2)
        if isinstance(pinged, Success) and pinged.value["pid"] != other_than:
            return int(pinged.value["pid"])
        await asyncio.sleep(0.05)
    raise RuntimeError("no agent answered")


def start_bare_agent(local_dir: Path) -> None:
    """The agent on its own, as the driver started it before keepers: nothing restarts it."""
    local_dir.mkdir(parents=True)
    argv = [sys.executable, "-m", "uno.deployment.adapters.platforms.local.agent", "--state-dir", str(local_dir)]
    with open(local_dir / "agent.log", "ab") as log:
        subprocess.run([*argv, "--detach"], stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True, timeout=30)


async def run(mode: str, arguments: argparse.Namespace) -> list[dict[str, float]]:
    local_dir = Path(tempfile.mkdtemp(prefix=f"agent-kill-{mode}-")) / "local"
    driver, port = LocalDriver(local_dir, {}), free_port()
    if mode == "baseline":
        start_bare_agent(local_dir)
        await agent_pid(driver)  # up before the driver's first call, which would start one under a keeper
    try:
        created = await driver.create_version(release(port), 2)
        assert isinstance(created, Success), created
        assert isinstance(await driver.set_traffic("hello", "dev", {created.value.id: 100}), Success)
        kills = 1 if mode == "baseline" else arguments.kills
        return await under_load(driver, port, kills, arguments)
    finally:
        await driver.list_versions("hello", "dev")  # (baseline) the next call starts an agent, which adopts them
        stopped = await driver.shutdown()
        assert isinstance(stopped, Success), stopped


async def under_load(
    driver: LocalDriver, port: int, kills: int, arguments: argparse.Namespace
) -> list[dict[str, float]]:
    outcomes = Outcomes()
    start = time.monotonic()
    until = start + arguments.interval * (kills + 0.5)
    clients = [asyncio.create_task(client(port, outcomes, until)) for _ in range(arguments.connections)]
    killed: list[float] = []
    pid = await agent_pid(driver)
    for number in range(kills):
        await asyncio.sleep(max(0.0, start + arguments.interval * (number + 0.5) - time.monotonic()))
        os.kill(pid, signal.SIGKILL)
        killed.append(time.monotonic())
        if number + 1 < kills:
            pid = await agent_pid(driver, other_than=pid)
    await asyncio.gather(*clients)
    ends = [*killed[1:], until]
    return [figures(outcomes, kill, end) for kill, end in zip(killed, ends, strict=True)]


def figures(outcomes: Outcomes, kill: float, end: float) -> dict[str, float]:
    """One kill's figures, from the kill to ``end`` (the next kill, or the end of the run)."""
    failed = [(sent, kind) for sent, ended, kind in outcomes.failures if kill <= ended < end]
    before = [ended for _, ended in outcomes.successes if ended < kill]
    after = sorted(ended for _, ended in outcomes.successes if kill <= ended < end)
    recovered = bool(after) and end - after[-1] < 1.0  # still answering at the end of the window
    # the longest time without an answer, from the last answer before the kill (a few answers
    # in flight at the kill may still land just after it: they are no recovery)
    times = [max(before) if before else kill, *after, *([] if recovered else [end])]
    outage = max((later - earlier for earlier, later in itertools.pairwise(times)), default=0.0)
    return {
        "failed": len(failed),
        "refused": sum(kind == "refused" for _, kind in failed),
        "failed_sent_after": sum(sent >= kill for sent, _ in failed),
        "succeeded": len(after),
        "outage": outage,
        "recovered": recovered,
    }


def report(mode: str, results: list[dict[str, float]], interval: float) -> None:
    for number, result in enumerate(results, 1):
        outage = f"{result['outage']:.3f} s" if result["recovered"] else f">= {interval:g} s (never came back)"
        print(
            f"{mode:8} kill {number}: failed {result['failed']:5d} (refused {result['refused']:5d}, "
            f"sent after the kill {result['failed_sent_after']:5d}), succeeded {result['succeeded']:6d}, "
            f"outage {outage}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=3, choices=range(1, 11), metavar="1..10")
    parser.add_argument("--interval", type=float, default=4.0, help="seconds between kills (1 to 30)")
    parser.add_argument("--connections", type=int, default=8, choices=range(1, 65), metavar="1..64")
    parser.add_argument("--mode", choices=("both", "baseline", "keeper"), default="both")
    arguments = parser.parse_args()
    if not 1.0 <= arguments.interval <= 30.0:
        parser.error("--interval: 1 to 30 seconds")
    modes = ("baseline", "keeper") if arguments.mode == "both" else (arguments.mode,)
    print(f"{arguments.connections} keep-alive clients; SIGKILL to the agent every {arguments.interval:g} s")
    for mode in modes:
        report(mode, asyncio.run(run(mode, arguments)), arguments.interval)


if __name__ == "__main__":
    main()
