"""Storage throughput: configurations and pipeline transitions, memory vs SQLite vs PostgreSQL.

    .venv/bin/python benchmarks/storage.py [--seconds 1.0] [--postgres postgresql://postgres@127.0.0.1/postgres]

Every figure is operations per second through the repository ports, in one process on one
event loop, each operation its own transaction (nothing is batched unless the row says
so). Ratios are against the memory store measured in the same run. SQLite is a temporary
file (WAL, synchronous=NORMAL); PostgreSQL a temporary database on the given server,
dropped at the end. "sqlite, aiosqlite only" turns off the worker-thread hot path, to
show what it buys. Each measurement stops after ``--seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from uno.deployment.adapters.clocks import SystemClock
from uno.deployment.adapters.repositories import memory
from uno.deployment.adapters.repositories.sql import stores
from uno.deployment.domain import configuring
from uno.deployment.domain.enums import TaskStatus
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId, new_config_id
from uno.deployment.domain.pipelines import Pipeline, Stage, Task, Transition

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TASKS_PER_PIPELINE = 200
BATCH = 50


async def rate(seconds: float, operation: Callable[[int], Awaitable[Any]]) -> float:
    """Operations per second: ``operation(i)`` for i = 0, 1, ... until ``seconds`` have passed."""
    started = time.perf_counter()
    count = 0
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(10):
            await operation(count)
            count += 1
    return count / elapsed


async def config_saves(repositories: Any, seconds: float) -> float:
    given = {"app_name": "bench", "app_version": "1.0.0", "environment": "dev"}
    config = configuring.build(new_config_id(), given, NOW).value
    await repositories.configs.add(config)
    current = [config]

    async def save(_: int) -> None:
        current[0] = (await repositories.configs.save(current[0])).value

    return await rate(seconds, save)


async def config_reads(repositories: Any, seconds: float) -> float:
    given = {"app_name": "bench", "app_version": "1.0.0", "environment": "dev"}
    config = configuring.build(new_config_id(), given, NOW).value
    await repositories.configs.add(config)
    return await rate(seconds, lambda _: repositories.configs.get(config.id))


def a_pipeline() -> Pipeline:
    tasks = [Task(TaskId.new(), f"t{index}", "noop") for index in range(TASKS_PER_PIPELINE)]
    return Pipeline(
        PipelineId.new(), "bench", DeploymentId("cfg-bench"), NOW, stages=[Stage(StageId.new(), "s", tasks=tasks)]
    )


def task_transitions(pipeline: Pipeline) -> Iterator[Transition]:
    """Each task's two transitions (started, then succeeded), as the engine records them."""
    for task in pipeline.stages[0].tasks:
        for status in (TaskStatus.RUNNING, TaskStatus.SUCCEEDED):
            yield Transition.of(task.move(pipeline.id, status, NOW), task)


async def transitions(repositories: Any, seconds: float, batch: int) -> float:
    """Task state transitions stored per second through ``record``, ``batch`` per call."""
    source: list[Iterator[Transition]] = []

    async def next_batch() -> list[Transition]:
        chosen: list[Transition] = []
        while len(chosen) < batch:
            if not source or (step := next(source[0], None)) is None:
                pipeline = a_pipeline()
                await repositories.pipelines.add(pipeline)
                source[:] = [task_transitions(pipeline)]
                continue
            chosen.append(step)
        return chosen

    async def record(_: int) -> None:
        chosen = await next_batch()
        assert (await repositories.pipelines.record(chosen[0].event.pipeline_id, chosen)).is_success()

    return await rate(seconds, record) * batch


async def pipeline_reads(repositories: Any, seconds: float) -> float:
    pipeline = a_pipeline()
    await repositories.pipelines.add(pipeline)
    steps = list(task_transitions(pipeline))
    await repositories.pipelines.record(pipeline.id, steps[: len(steps) // 2])
    return await rate(seconds, lambda _: repositories.pipelines.get(pipeline.id))


MEASURES: dict[str, Callable[[Any, float], Awaitable[float]]] = {
    "config saves/s": config_saves,
    "config reads/s": config_reads,
    "transitions/s, 1 per record": lambda repositories, seconds: transitions(repositories, seconds, 1),
    f"transitions/s, {BATCH} per record": lambda repositories, seconds: transitions(repositories, seconds, BATCH),
    f"pipeline reads/s ({TASKS_PER_PIPELINE} tasks)": pipeline_reads,
}


@contextlib.asynccontextmanager
async def memory_store() -> AsyncIterator[Any]:
    yield argparse.Namespace(configs=memory.MemoryConfigRepository(), pipelines=memory.MemoryPipelineRepository())


@contextlib.asynccontextmanager
async def sql_store(url: str, *, hot_path: bool = True) -> AsyncIterator[Any]:
    store = stores.open_store(url, SystemClock(), hot_path=hot_path)
    try:
        yield store
    finally:
        await store.aclose()


@contextlib.contextmanager
def temporary_postgres(server: str) -> Iterator[str]:
    name = f"uno_bench_{secrets.token_hex(4)}"
    engine = sa.create_engine(make_url(server).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


async def measure(name: str, open_store: Callable[[], Any], seconds: float) -> dict[str, float]:
    figures = {}
    for measure_name, run in MEASURES.items():
        async with open_store() as repositories:
            figures[measure_name] = await run(repositories, seconds)
    print(f"  measured {name}")
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres", help="server URL")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, temporary_postgres(arguments.postgres) as postgres:
        files = iter(range(1000))
        sqlite = lambda: f"sqlite:///{Path(folder) / f'bench-{next(files)}.db'}"  # noqa: E731
        backends: dict[str, Callable[[], Any]] = {
            "memory": memory_store,
            "sqlite": lambda: sql_store(sqlite()),
            "sqlite, aiosqlite only": lambda: sql_store(sqlite(), hot_path=False),
            "postgresql": lambda: sql_store(postgres),
        }
        results = {name: await measure(name, make, arguments.seconds) for name, make in backends.items()}
    print_table(results)


def print_table(results: dict[str, dict[str, float]]) -> None:
    baseline = results["memory"]
    print(f"\n{'':<34}" + "".join(f"{name:>24}" for name in results))
    for measure_name in MEASURES:
        cells = "".join(
            f"{figures[measure_name]:>12,.0f} ({figures[measure_name] / baseline[measure_name]:.4f})"
            for figures in results.values()
        )
        print(f"{measure_name:<34}{cells}")
    print("\n(ratio) is the rate divided by memory's rate for the same measure, in this run.")


if __name__ == "__main__":
    asyncio.run(main())
