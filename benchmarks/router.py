"""Router throughput and latency against the application direct, and a blue-green cutover under load.

    .venv/bin/python benchmarks/router.py [--seconds 10] [--slices 10] [--connections 16] [--loop uvloop|asyncio]

Everything runs on 127.0.0.1 and stops by itself (about 50 s with the defaults). The
application is ``examples/hello`` (the standard library's ThreadingHTTPServer, Nagle's
algorithm off), one process per version. The router runs in this process; the load comes
from a child process (``benchmarks/loadgen.py``): ``--connections`` keep-alive connections,
each sending ``GET /`` as soon as its previous response has arrived.

Direct load, load through the router and load through a minimal asyncio proxy (bytes
copied blindly, one upstream connection per client: the floor any asyncio proxy pays
here) take turns in ``--slices`` rounds of short slices, each with a short warm-up, so
that all three meet the same background noise; each gets ``--seconds`` of measurement in
all. Rates are total responses over total time, latencies are percentiles of all
responses, ratios are against direct, measured in this run. Also printed: the CPU time
per request (user + system) of the application, the load generator and the proxy in each
of the three set-ups, and how busy other processes kept the machine: on two cores a
ratio is only as good as the spare core the proxy runs on.

The router (and the minimal proxy) run on the event loop the local agent runs on
(``loops.chosen()``: uvloop where installed) unless ``--loop`` says otherwise; the loop is
printed. ``--loop asyncio`` measures the router on asyncio's own loop.

Cutover: under the same load, the router's weights switch from 100% v1 to 100% v2. It
reports requests sent after the switch that v1 still answered (must be 0), when the first
v2 and the last v1 responses arrived, and failed requests (must be 0). Times are
CLOCK_MONOTONIC, which the processes share.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from uno.deployment.adapters.platforms.local import loops
from uno.deployment.adapters.platforms.local.routing import Router

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "examples" / "hello" / "app.py"
LOADGEN = ROOT / "benchmarks" / "loadgen.py"
WARM_UP = 0.25
STARTUP_TIMEOUT = 10.0


class Application:
    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port


@asynccontextmanager
async def application(version: str) -> AsyncIterator[Application]:
    """The hello app in a child process, answering ``version``."""
    environment = {**os.environ, "PORT": "0", "HELLO_VERSION": version}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(APP), env=environment, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT)
        yield Application(process, int(line.decode().rsplit(":", 1)[1]))
    finally:
        process.terminate()
        await process.wait()


class LoadGenerator:
    """The load generator child process; ``run`` asks it for one bounded run."""

    def __init__(self, process: asyncio.subprocess.Process, connections: int) -> None:
        self.process = process
        self.connections = connections

    async def run(
        self, port: int, seconds: float, warm_up: float = WARM_UP, record: bool = False, **extra: Any
    ) -> dict[str, Any]:
        """One run against ``port``; ``extra`` goes into the command (``cafile``, ``server_hostname``: TLS)."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        command = {"port": port, "connections": self.connections, "seconds": seconds, "warm_up": warm_up, **extra}
        self.process.stdin.write(json.dumps({**command, "record": record}).encode() + b"\n")
        line = await asyncio.wait_for(self.process.stdout.readline(), warm_up + seconds + 60)
        result: dict[str, Any] = json.loads(line)
        return result


@asynccontextmanager
async def load_generator(connections: int) -> AsyncIterator[LoadGenerator]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(LOADGEN), stdin=subprocess.PIPE, stdout=subprocess.PIPE, limit=64 * 1024 * 1024
    )
    try:
        yield LoadGenerator(process, connections)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    latencies = sorted(latency for run in runs for latency in run["latencies_us"])
    seconds = sum(run["seconds"] for run in runs)
    return {
        "rate": len(latencies) / seconds,
        "p50_ms": latencies[len(latencies) // 2] / 1000 if latencies else 0.0,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] / 1000 if latencies else 0.0,
        "failures": sum(run["failures"] for run in runs),
    }


def line(name: str, figures: dict[str, float], baseline: float) -> str:
    return (
        f"{name:<20} {figures['rate']:>8,.0f} req/s   p50 {figures['p50_ms']:5.2f} ms   "
        f"p99 {figures['p99_ms']:6.2f} ms   failures {figures['failures']:.0f}   ratio {figures['rate'] / baseline:.3f}"
    )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Background:
    """CPU time the rest of the machine used while the benchmark ran (Linux /proc; None elsewhere).

    Other processes competing for the cores slow the proxied runs more than the direct ones
    (they need the spare core), so the figure says how far to trust a ratio.
    """

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes
        self.busy = 0.0
        self.elapsed = 0.0

    def __enter__(self) -> Background:
        self._start = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._sample()
        if self._start is not None and end is not None:
            self.busy += end[0] - self._start[0]
            self.elapsed += end[1] - self._start[1]

    def _sample(self) -> tuple[float, float] | None:
        try:
            ticks = os.sysconf("SC_CLK_TCK")
            with open("/proc/stat") as stat:
                fields = [int(value) for value in stat.readline().split()[1:]]
            ours = sum(process_seconds(self.processes).values())  # the benchmark's own, this process too
        except (OSError, ValueError):
            return None
        busy = (sum(fields) - fields[3] - fields[4]) / ticks
        return busy - ours, time.monotonic()

    def cores(self) -> float | None:
        return self.busy / self.elapsed if self.elapsed else None


def _process_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class BlindProxy(asyncio.BufferedProtocol):
    """A minimal asyncio proxy for reference: one upstream connection per client, bytes copied blindly.

    No HTTP, no choice, no pool, no counters: what any asyncio proxy pays in this setup.
    """

    read = memoryview(bytearray(256 * 1024))

    def __init__(self, port: int) -> None:
        self.port = port
        self.transport: asyncio.Transport | None = None
        self.peer: BlindProxy | None = None
        self.pending: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        if self.port:
            self.connecting = asyncio.ensure_future(self.connect())

    async def connect(self) -> None:
        _, upstream = await asyncio.get_running_loop().create_connection(lambda: BlindProxy(0), "127.0.0.1", self.port)
        upstream.peer, self.peer = self, upstream
        for data in self.pending:
            upstream.write(data)

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.read

    def buffer_updated(self, nbytes: int) -> None:
        data = bytes(self.read[:nbytes])
        if self.peer is None:
            self.pending.append(data)
        else:
            self.peer.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


async def throughput(arguments: argparse.Namespace) -> None:
    seconds = arguments.seconds / arguments.slices
    async with application("1.0.0") as app, load_generator(arguments.connections) as load:
        router = Router("127.0.0.1", 0)
        await router.start()
        router.set_backends("v1", [("127.0.0.1", app.port)])
        router.set_weights({"v1": 100})
        blind = await asyncio.get_running_loop().create_server(lambda: BlindProxy(app.port), "127.0.0.1", 0)
        targets = {"direct": app.port, "router": router.port, "minimal": blind.sockets[0].getsockname()[1]}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        processes = {"app": app.process.pid, "load": load.process.pid}
        background = Background(processes)
        cpu = {name: dict.fromkeys([*processes, "proxy"], 0.0) for name in targets}
        answered = dict.fromkeys(targets, 0)
        try:
            for _ in range(arguments.slices):
                with background:
                    for name, port in targets.items():
                        started = process_seconds(processes)
                        runs[name].append(await load.run(port, seconds))
                        for process, used in process_seconds(processes).items():
                            cpu[name][process] += used - started[process]
                        answered[name] += runs[name][-1]["answered"]
        finally:
            blind.close()
            await router.stop()
    per_request = {
        name: {process: used / max(1, answered[name]) for process, used in used_by.items()}
        for name, used_by in cpu.items()
    }
    report_throughput(arguments, runs, per_request, background.cores())


def process_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each named process, and by this one as ``proxy``."""
    ticks = os.sysconf("SC_CLK_TCK")
    return {**{name: _process_ticks(pid) / ticks for name, pid in pids.items()}, "proxy": cpu_seconds()}


def report_throughput(
    arguments: argparse.Namespace,
    runs: dict[str, list[dict[str, Any]]],
    per_request: dict[str, dict[str, float]],
    background: float | None,
) -> None:
    baseline, through, minimal = summary(runs["direct"]), summary(runs["router"]), summary(runs["minimal"])
    pairs = zip(runs["direct"], runs["router"], strict=True)
    ratios = sorted(len(p["latencies_us"]) / max(1, len(d["latencies_us"])) for d, p in pairs)
    print(
        f"hello app (ThreadingHTTPServer), {arguments.connections} keep-alive connections, "
        f"{arguments.slices} rounds of {arguments.seconds / arguments.slices:g} s slices "
        f"(direct, router, minimal proxy in turn); router and minimal proxy on {arguments.loop}"
    )
    print(line("direct (baseline)", baseline, baseline["rate"]))
    print(line("through the router", through, baseline["rate"]))
    print(line("minimal proxy (ref.)", minimal, baseline["rate"]))
    print(
        f"router / direct per round: min {ratios[0]:.3f}  median {statistics.median(ratios):.3f}  max {ratios[-1]:.3f}"
    )
    print(f"router / minimal proxy: {through['rate'] / minimal['rate']:.3f}")
    print("CPU per request, user + system (us):    app   load  proxy   total")
    for name, label in (("direct", "direct"), ("router", "through the router"), ("minimal", "minimal proxy")):
        used = per_request[name]
        proxy = used["proxy"] if name != "direct" else 0.0
        total = used["app"] + used["load"] + proxy
        print(f"  {label:<36} {used['app'] * 1e6:6.0f} {used['load'] * 1e6:6.0f} {proxy * 1e6:6.0f} {total * 1e6:7.0f}")
    if background is not None:
        print(f"other processes kept {max(0.0, background):.2f} of {os.cpu_count()} cores busy while it ran")


async def cutover(arguments: argparse.Namespace) -> None:
    async with application("1") as blue, application("2") as green, load_generator(arguments.connections) as load:
        router = Router("127.0.0.1", 0)
        await router.start()
        router.set_backends("v1", [("127.0.0.1", blue.port)])
        router.set_backends("v2", [("127.0.0.1", green.port)])
        router.set_weights({"v1": 100, "v2": 0})
        try:
            running = asyncio.create_task(load.run(router.port, arguments.cutover_seconds, warm_up=0.5, record=True))
            await asyncio.sleep(0.5 + arguments.cutover_seconds / 3)
            switched = time.monotonic()
            router.set_weights({"v1": 0, "v2": 100})
            call = time.monotonic() - switched
            await asyncio.sleep(arguments.cutover_seconds / 3)
            rolled_back = time.monotonic()
            router.set_weights({"v1": 100, "v2": 0})  # the warm rollback: the same switch, the other way
            back_call = time.monotonic() - rolled_back
            figures = await running
        finally:
            await router.stop()
    report_cutover(figures, switched, call, rolled_back)
    report_rollback(figures, rolled_back, back_call)


def report_rollback(figures: dict[str, Any], rolled_back: float, call: float) -> None:
    responses = [item for item in figures["responses"] if item[0] >= rolled_back or item[1] >= rolled_back]
    late = [sent for sent, _, version in responses if version == "2" and sent >= rolled_back]
    first_blue = min((received for sent, received, version in responses if version == "1"), default=rolled_back)
    print("warm rollback v2 -> v1 under the same load:")
    print(f"  set_weights call                               {call * 1e6:8.1f} us")
    print(f"  first v1 response after the switch back        {(first_blue - rolled_back) * 1000:8.2f} ms")
    print(f"  requests sent after it answered by v2          {len(late):8d}")


def report_cutover(figures: dict[str, Any], switched: float, call: float, until: float) -> None:
    # only requests sent well before the switch back: the ones around it belong to the rollback
    responses = [item for item in figures["responses"] if item[0] < until - 0.05]
    late = [sent for sent, _, version in responses if version == "1" and sent >= switched]
    last_blue = max((received for _, received, version in responses if version == "1"), default=switched)
    first_green = min((received for _, received, version in responses if version == "2"), default=switched)
    print(f"cutover v1 -> v2 under load ({len(responses):,} requests, {arguments_note(figures)}):")
    print(f"  set_weights call                               {call * 1e6:8.1f} us")
    print(f"  first v2 response after the switch             {(first_green - switched) * 1000:8.2f} ms")
    print(f"  last v1 response after the switch              {max(0.0, last_blue - switched) * 1000:8.2f} ms")
    print(f"  requests sent after the switch answered by v1  {len(late):8d}")
    print(f"  failed requests                                {figures['failures']:8d}")


def arguments_note(figures: dict[str, Any]) -> str:
    return f"switch at a third of {figures['seconds']:g} s, back at two thirds"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per side")
    parser.add_argument("--slices", type=int, default=10, help="alternating direct/proxied slices")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--cutover-seconds", type=float, default=3.0)
    parser.add_argument("--loop", choices=loops.LOOPS, default=None, help="default: the local agent's loop")
    arguments = parser.parse_args()
    arguments.loop = arguments.loop or loops.chosen()
    loops.run(throughput(arguments), arguments.loop)
    loops.run(cutover(arguments), arguments.loop)


if __name__ == "__main__":
    main()
