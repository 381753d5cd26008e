"""What TLS at the local router costs: throughput, latency and CPU per request, with and without it.

    .venv/bin/python benchmarks/router_tls.py [--seconds 10] [--slices 10] [--connections 16] [--loop uvloop|asyncio]

The same router code in front of the same ``examples/hello`` process, once serving plain
HTTP and once terminating TLS (the local platform's self-signed certificate, made by
``openssl`` in a temporary directory: ECDSA P-256, TLS 1.3 with this machine's OpenSSL),
both in this process, taking turns in ``--slices`` rounds so that both meet the same
background noise. The load comes from ``benchmarks/loadgen.py`` in a child process:
``--connections`` keep-alive connections (handshakes happen once per connection and slice,
so this is the steady state of kept-alive clients, not the cost of a handshake). Ratios
are TLS against plain, measured in this run; CPU per request is the router's process
(user + system). Everything runs on 127.0.0.1 and stops by itself (about 25 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from router import application, load_generator, process_seconds, summary

from uno.deployment.adapters.platforms.local import loops, tls
from uno.deployment.adapters.platforms.local.routing import Router

DOMAIN = "bench.example.test"


async def measure(arguments: argparse.Namespace, folder: Path) -> None:
    made = tls.self_signed(folder, "bench", "dev", DOMAIN)
    cert, key = made.value
    seconds = arguments.seconds / arguments.slices
    async with application("1.0.0") as app, load_generator(arguments.connections) as load:
        routers = {"plain": Router("127.0.0.1", 0), "tls": Router("127.0.0.1", 0, tls=tls.server_context(cert, key))}
        for router in routers.values():
            await router.start()
            router.set_backends("v1", [("127.0.0.1", app.port)])
            router.set_weights({"v1": 100})
        extra: dict[str, dict[str, Any]] = {"plain": {}, "tls": {"cafile": cert, "server_hostname": DOMAIN}}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in routers}
        cpu, answered = dict.fromkeys(routers, 0.0), dict.fromkeys(routers, 0)
        processes = {"app": app.process.pid, "load": load.process.pid}
        try:
            for _ in range(arguments.slices):
                for name, router in routers.items():
                    started = process_seconds(processes)["proxy"]
                    runs[name].append(await load.run(router.port, seconds, **extra[name]))
                    cpu[name] += process_seconds(processes)["proxy"] - started
                    answered[name] += runs[name][-1]["answered"]
        finally:
            for router in routers.values():
                await router.stop()
    report(arguments, runs, {name: cpu[name] / max(1, answered[name]) for name in routers})


def report(arguments: argparse.Namespace, runs: dict[str, list[dict[str, Any]]], cpu: dict[str, float]) -> None:
    plain, secured = summary(runs["plain"]), summary(runs["tls"])
    pairs = zip(runs["plain"], runs["tls"], strict=True)
    ratios = sorted(len(t["latencies_us"]) / max(1, len(p["latencies_us"])) for p, t in pairs)
    failures = sum(run["failures"] for name in runs for run in runs[name])
    print(
        f"hello app, {arguments.connections} keep-alive connections, {arguments.slices} rounds of "
        f"{arguments.seconds / arguments.slices:g} s slices (plain, TLS in turn); router on {arguments.loop}"
    )
    for name, figures in (("plain HTTP", plain), ("TLS", secured)):
        print(
            f"  {name:<11} {figures['rate']:8.0f} req/s  p50 {figures['p50_ms']:.2f} ms  p99 {figures['p99_ms']:.2f} ms"
            f"  router CPU {cpu['plain' if name == 'plain HTTP' else 'tls'] * 1e6:.0f} us/request"
        )
    print(
        f"TLS / plain throughput: {secured['rate'] / plain['rate']:.3f} (per round: min {ratios[0]:.3f}, "
        f"median {statistics.median(ratios):.3f}, max {ratios[-1]:.3f}); failed requests: {failures}"
    )
    print(f"router CPU per request, TLS / plain: {cpu['tls'] / max(cpu['plain'], 1e-12):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per side")
    parser.add_argument("--slices", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--loop", choices=loops.LOOPS, default=None, help="default: the local agent's loop")
    arguments = parser.parse_args()
    arguments.loop = arguments.loop or loops.chosen()
    with tempfile.TemporaryDirectory() as folder:
        loops.run(measure(arguments, Path(folder)), arguments.loop)
    print(f"({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
