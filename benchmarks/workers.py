"""Queue execution: deployments completed per second with 1 and with 2 worker processes.

    .venv/bin/python benchmarks/workers.py [--deployments 60] [--apps 12] [--concurrency 4]

A fresh PostgreSQL database on the local server (127.0.0.1:5432, user postgres, or
UNO_TEST_POSTGRES_URL), dropped at the end. For each worker count the same load is queued
first (``--deployments`` across ``--apps`` applications in staging, each the default
pipeline with the platform steps as no-op doubles), then the workers start and the clock
runs until every deployment has ended. Jobs of one application run one at a time (the
queue's lock), so ``--apps`` bounds the parallelism. Everything runs on 127.0.0.1 and
stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from uno.deployment import bootstrap
from uno.deployment.adapters.repositories.sql import migrating
from uno.deployment.adapters.repositories.sql.connecting import target
from uno.deployment.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "benchmarks" / "queue_worker.py"
SERVER = os.environ.get("UNO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DEADLINE_SECONDS = 600


def server() -> sa.Engine:
    url = sa.make_url(SERVER).set(drivername="postgresql+psycopg")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


def empty(url: str) -> None:
    engine = sa.create_engine(target(url).sync_url, poolclass=sa.NullPool)
    with engine.begin() as connection:
        names = [name for name in sa.inspect(connection).get_table_names() if name != "alembic_version"]
        connection.exec_driver_sql(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")
    engine.dispose()


async def queue_load(url: str, deployments: int, apps: int) -> list[str]:
    container = bootstrap.build(Settings(database_url=url, execution="queue", log_level="WARNING"))
    try:
        configs = []
        for index in range(apps):
            made = await container.config_service.create_config(f"bench-{index}", "1.0.0", "staging", platform="custom")
            configs.append(made.value.id)
        ids = []
        for number in range(deployments):
            started = await container.deployment_service.start_deploy(configs[number % apps])
            ids.append(started.value.id.value)
        return ids
    finally:
        await container.aclose()


async def all_ended(url: str, ids: list[str]) -> None:
    container = bootstrap.build(Settings(database_url=url, log_level="WARNING"))
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        pending = list(ids)
        while pending:
            if time.monotonic() > deadline:
                raise SystemExit(f"{len(pending)} deployments did not end in {DEADLINE_SECONDS} s")
            record = (await container.deployment_service.get_deployment(pending[0])).value
            if record.status.is_complete:
                if record.status.value != "succeeded":
                    raise SystemExit(f"{record.id.value} {record.status.value}: {record.message}")
                pending.pop(0)
            else:
                await asyncio.sleep(0.05)
    finally:
        await container.aclose()


def measure(url: str, workers: int, args: argparse.Namespace) -> float:
    empty(url)
    ids = asyncio.run(queue_load(url, args.deployments, args.apps))
    environment = {
        **os.environ,
        "UNO_DEPLOY_EXECUTION": "queue",
        "UNO_DEPLOY_DATABASE_URL": url,
        "UNO_DEPLOY_LOG_LEVEL": "WARNING",
        "UNO_DEPLOY_WORKER_POLL_SECONDS": "0.2",
        "STEP_SECONDS": "0",
        "WORKER_CONCURRENCY": str(args.concurrency),
    }
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            [sys.executable, str(WORKER), f"w{number}"],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for number in range(workers)
    ]
    try:
        asyncio.run(all_ended(url, ids))
        elapsed = time.monotonic() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
    return args.deployments / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deployments", type=int, default=60)
    parser.add_argument("--apps", type=int, default=12)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    name = f"uno_bench_workers_{secrets.token_hex(4)}"
    admin = server()
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    try:
        migrating.upgrade(target(url))
        one = measure(url, 1, args)
        two = measure(url, 2, args)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    print(f"{args.deployments} queued deployments across {args.apps} apps (default pipeline, no-op platform steps)")
    print(f"  1 worker : {one:6.1f} deployments/s")
    print(f"  2 workers: {two:6.1f} deployments/s")
    print(f"  2/1 ratio: {two / one:.2f}")


if __name__ == "__main__":
    main()
