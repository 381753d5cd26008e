"""The status endpoint through the whole API against a bare FastAPI endpoint, in one run.

    .venv/bin/python benchmarks/api.py [--seconds 10] [--slices 5] [--connections 50]

Both servers run on 127.0.0.1 under uvicorn with the same settings (uvloop, httptools,
no access log, one worker): ``uno-deploy serve`` on a SQLite store holding a deployment
and its pipeline, with auth on (a ``read`` token in every request), and
``benchmarks/api_bare.py``, which answers a constant body of the same shape. The load
comes from ``benchmarks/loadgen.py`` in its own process: ``--connections`` keep-alive
connections sending ``GET /api/deployments/status/{id}`` back to back. The two servers
take turns in ``--slices`` rounds so that both meet the same background noise.
Target: the API at >= 60% of the bare endpoint's requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from uno.deployment import bootstrap
from uno.deployment.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
LOADGEN = ROOT / "benchmarks" / "loadgen.py"
BARE = ROOT / "benchmarks" / "api_bare.py"
WARM_UP = 0.5
STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def prepare(url: str) -> tuple[str, str]:
    """A deployment with its pipeline in the store, and a read token."""
    container = bootstrap.build(Settings(database_url=url))
    try:
        config = await container.config_service.create_config("bench", "1.0.0", "dev", platform="custom")
        deployed = await container.deployment_service.deploy(config.value.id, "a record to read")
        made = await container.access_service.create_token("bench", ["read"])
        return deployed.value.id.value, made.value[1]
    finally:
        await container.aclose()


def start(command: list[str], environment: dict[str, str], port: int, probe: str) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=1):
                return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: {command}") from None
            time.sleep(0.05)


def measure(loadgen: subprocess.Popen[str], port: int, path: str, headers: dict[str, str], args: Any) -> dict:
    command = {
        "port": port,
        "connections": args.connections,
        "seconds": args.seconds / args.slices,
        "warm_up": WARM_UP,
        "record": False,
        "path": path,
        "headers": headers,
    }
    assert loadgen.stdin is not None
    assert loadgen.stdout is not None
    loadgen.stdin.write(json.dumps(command) + "\n")
    loadgen.stdin.flush()
    return dict(json.loads(loadgen.stdout.readline()))


def summary(results: list[dict], seconds: float) -> dict[str, float]:
    latencies = sorted(latency for result in results for latency in result["latencies_us"])
    count = len(latencies)
    return {
        "rps": count / seconds,
        "p50_ms": latencies[count // 2] / 1000 if count else float("nan"),
        "p99_ms": latencies[min(count - 1, int(count * 0.99))] / 1000 if count else float("nan"),
        "failures": sum(result["failures"] for result in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per server, in all")
    parser.add_argument("--slices", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        url = f"sqlite:///{home}/bench.db"
        deployment_id, secret = asyncio.run(prepare(url))
        environment = {
            **os.environ,
            "UNO_DEPLOY_DATABASE_URL": url,
            "UNO_DEPLOY_LOCAL_DIR": f"{home}/local",
            "UNO_DEPLOY_BACKUP_DIR": f"{home}/backups",
            "UNO_DEPLOY_LOG_LEVEL": "WARNING",
        }
        path = f"/api/deployments/status/{deployment_id}"
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        api_port, bare_port = free_port(), free_port()
        serve = [sys.executable, "-m", "uno.deployment.entrypoints.cli", "serve", "--port", str(api_port)]
        if secret is None:
            serve.append("--no-auth")
        servers = [
            start(serve, environment, api_port, "/healthz"),
            start([sys.executable, str(BARE), str(bare_port)], environment, bare_port, path),
        ]
        loadgen = subprocess.Popen(
            [sys.executable, str(LOADGEN)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        try:
            check = urllib.request.Request(f"http://127.0.0.1:{api_port}{path}", headers=headers)
            with urllib.request.urlopen(check, timeout=5) as answer:
                assert answer.status == 200, answer.status
            runs: dict[str, list[dict]] = {"api": [], "bare": []}
            for _ in range(args.slices):
                runs["api"].append(measure(loadgen, api_port, path, headers, args))
                runs["bare"].append(measure(loadgen, bare_port, path, {}, args))
        finally:
            if loadgen.stdin:
                loadgen.stdin.close()
            loadgen.wait(timeout=30)
            for server in servers:
                server.terminate()
                server.wait(timeout=30)
    api, bare = summary(runs["api"], args.seconds), summary(runs["bare"], args.seconds)
    per_slice = [
        len(a["latencies_us"]) / max(1, len(b["latencies_us"])) for a, b in zip(runs["api"], runs["bare"], strict=True)
    ]
    auth = "on" if secret else "off"
    print(f"GET /api/deployments/status/{{id}}, {args.connections} keep-alive connections, auth {auth}")
    for name, figures in (("api", api), ("bare", bare)):
        print(
            f"  {name:5} {figures['rps']:8.0f} req/s  p50 {figures['p50_ms']:6.2f} ms  "
            f"p99 {figures['p99_ms']:6.2f} ms  failures {figures['failures']}"
        )
    print(f"  api/bare throughput: {api['rps'] / bare['rps']:.3f} (slices: {statistics.median(per_slice):.3f} median)")
    print("  target: >= 0.60")


if __name__ == "__main__":
    main()
