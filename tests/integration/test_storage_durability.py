"""Durability: a writer killed with SIGKILL in the middle of a transaction leaves the store
consistent and readable, with every committed batch whole and the torn one absent."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from uno.deployment.adapters.clocks import SystemClock
from uno.deployment.adapters.repositories.sql import connecting, stores
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent, Stage, Task, Transition

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WRITER = "uno-durability-writer"


async def poll(check: Callable[[], Awaitable[bool]], *, what: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout} s")
        await asyncio.sleep(0.002)


def sqlite_writer_is_mid_transaction(path: Path) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError as locked:  # the writer holds the write lock
            return "locked" in str(locked)
        finally:
            probe.close()

    return check


def postgres_writer_is_mid_transaction(url: str) -> Callable[[], Awaitable[bool]]:
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND xact_start IS NOT NULL "
        "AND state IN ('active', 'idle in transaction')"
    )
    engine = sa.create_engine(connecting.target(url).sync_url, poolclass=sa.NullPool)

    async def check() -> bool:
        with engine.connect() as connection:
            return bool(connection.execute(query, {"name": WRITER}).scalar_one())

    return check


@pytest.fixture(params=["sqlite", "postgresql"])
async def setup(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str, Callable[[], Awaitable[bool]]]]:
    """The store's URL, the writer's URL and how to see the writer inside a transaction."""
    if request.param == "sqlite":
        url = str(request.getfixturevalue("sqlite_url"))
        yield url, url, sqlite_writer_is_mid_transaction(Path(make_url(url).database or ""))
    else:
        url = str(request.getfixturevalue("postgres_url"))
        writer = make_url(url).update_query_dict({"application_name": WRITER}).render_as_string(hide_password=False)
        yield url, writer, postgres_writer_is_mid_transaction(url)


async def test_a_writer_killed_mid_transaction_leaves_the_store_consistent(
    setup: tuple[str, str, Callable[[], Awaitable[bool]]],
):
    url, writer_url, mid_transaction = setup
    store = stores.open_store(url, SystemClock())
    tasks = [Task(TaskId.new(), f"t{index}", "noop") for index in range(500)]
    pipeline = Pipeline(
        PipelineId.new(), "p", DeploymentId("cfg-x"), datetime.now(UTC), stages=[Stage(StageId.new(), "s", tasks=tasks)]
    )
    assert (await store.pipelines.add(pipeline)).is_success()

    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.storage_writer",
        writer_url,
        pipeline.id.value,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        seen: list[str] = []

        async def big_batches_started() -> bool:
            assert writer.stdout is not None
            seen.append((await asyncio.wait_for(writer.stdout.readline(), timeout=30)).decode().strip())
            assert seen[-1], f"the writer stopped: {(await writer.stderr.read()).decode() if writer.stderr else ''}"
            return seen[-1] == "writing big batches"

        await poll(big_batches_started, what="the writer's big batches")
        await poll(mid_transaction, what="the writer inside a transaction")
        os.kill(writer.pid, signal.SIGKILL)
        assert await asyncio.wait_for(writer.wait(), timeout=30) == -signal.SIGKILL
    finally:
        if writer.returncode is None:
            writer.kill()
            await writer.wait()

    await store.aclose()
    await check_consistent(url, pipeline)


async def check_consistent(url: str, pipeline: Pipeline) -> None:
    if connecting.target(url).is_sqlite:
        with sqlite3.connect(connecting.target(url).path or "") as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    reopened = stores.open_store(url, SystemClock())
    try:
        events = await reopened.pipelines.events(pipeline.id)
        sizes = Counter(event.message for event in events)
        assert len(sizes) >= 5  # the small batches, at least, were committed
        for message, count in sizes.items():  # every batch whole: none torn by the kill
            assert count == int(message.rsplit(" ", 1)[1]), message
        stored = await reopened.pipelines.get(pipeline.id)
        last = {event.subject_id: event.message for event in events}
        assert {task.id.value: task.message for _, task in stored.tasks() if task.id.value in last} == last
        late = PipelineEvent(datetime.now(UTC), pipeline.id, "pipeline", pipeline.id.value, "pending", "canceled")
        assert (await reopened.pipelines.record(pipeline.id, [Transition(late, {"status": "canceled"})])).is_success()
        assert len(await reopened.pipelines.events(pipeline.id)) == len(events) + 1
    finally:
        await reopened.aclose()
