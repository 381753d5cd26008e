"""The deployment queue on procrastinate (PostgreSQL), and the worker that serves it.

Why procrastinate: it is a job queue on PostgreSQL itself (the store teams already run;
no broker to operate), its job ``lock`` gives mutual exclusion and order across worker
processes (jobs of one application and environment run one at a time, first in, first
out), workers register heartbeats so a dead worker's job can be found (stalled jobs), it
listens to PostgreSQL notifications so a queued job starts at once, and it speaks
psycopg 3 like the store. Its schema is applied by the store's own migrations.

The worker runs the jobs with a handler given by the composition root (the deployment
service), and beside it a reaper: a job whose worker stopped sending heartbeats (killed)
is put back in the queue, and the next worker resumes its deployment from the journal
once the dead worker's lease has expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import procrastinate
import psycopg
import psycopg_pool
import sqlalchemy as sa
import structlog
from procrastinate import exceptions as procrastinate_errors

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.ports.queue import Handler
from uno.deployment.ports.repositories import StorageError

TASK_NAME = "uno.run_deployment"
CONNECT_TIMEOUT = 5
QUEUE_NAME = "deployments"

_log = structlog.get_logger("uno.deployment.queue")


def conninfo(database_url: str) -> str:
    """The libpq connection string for a SQLAlchemy PostgreSQL URL."""
    url = sa.make_url(database_url)
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"queue execution needs PostgreSQL, not {url.get_backend_name()}")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class ProcrastinateQueue:
    def __init__(self, database_url: str, *, poll_seconds: float = 1.0) -> None:
        self._conninfo = conninfo(database_url)
        self._connector = procrastinate.PsycopgConnector(conninfo=self._conninfo, min_size=1, max_size=4)
        self.app = procrastinate.App(connector=self._connector)
        self._handler: Handler | None = None
        self._poll_seconds = poll_seconds
        self._opened = False
        self._opening = asyncio.Lock()

        @self.app.task(name=TASK_NAME, queue=QUEUE_NAME, pass_context=False)
        async def run_deployment(deployment_id: str) -> None:
            if self._handler is None:
                raise RuntimeError("this process enqueues deployments but runs none: start `uno-deploy worker`")
            await self._handler(deployment_id)

        self._task = run_deployment

    async def _open(self) -> None:
        async with self._opening:
            if not self._opened:
                try:  # a quick first connection: an unreachable server is one clear error, at once
                    probe = await psycopg.AsyncConnection.connect(self._conninfo, connect_timeout=CONNECT_TIMEOUT)
                    await probe.close()
                    await self.app.open_async()
                except (psycopg.Error, psycopg_pool.PoolTimeout, OSError) as failed:
                    message = f"the deployment queue's database cannot be reached: {failed}"
                    raise StorageError(ErrorDetails(ErrorCode.STORAGE_ERROR, message)) from None
                self._opened = True

    async def aclose(self) -> None:
        if self._opened:
            await self.app.close_async()
            self._opened = False

    async def enqueue(self, deployment_id: str, lock: str) -> Result[str]:
        try:
            await self._open()
            job_id = await self._task.configure(lock=lock).defer_async(deployment_id=deployment_id)
        except (procrastinate_errors.ProcrastinateException, OSError) as failed:
            return Failure(ErrorDetails(ErrorCode.STORAGE_ERROR, f"the deployment could not be queued: {failed}"))
        return Success(str(job_id))

    async def withdraw(self, job_id: str) -> bool:
        await self._open()
        with contextlib.suppress(procrastinate_errors.ProcrastinateException):
            return bool(await self.app.job_manager.cancel_job_by_id_async(int(job_id)))
        return False

    async def work(
        self,
        handler: Handler,
        *,
        name: str,
        concurrency: int,
        heartbeat_seconds: float,
        stalled_after_seconds: float,
        stop: asyncio.Event,
        graceful_seconds: float,
        on_graceful_timeout: Callable[[], Awaitable[None]],
    ) -> None:
        """Run jobs with ``handler`` until ``stop`` is set, then stop gracefully.

        Running jobs get ``graceful_seconds`` to finish; then ``on_graceful_timeout`` is
        awaited (it hands the deployments back) and what still runs is cancelled.
        """
        self._handler = handler
        await self._open()
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
        worker = asyncio.create_task(
            self.app.run_worker_async(
                queues=[QUEUE_NAME],
                name=name,
                concurrency=concurrency,
                wait=True,
                install_signal_handlers=False,
                fetch_job_polling_interval=self._poll_seconds,
                abort_job_polling_interval=self._poll_seconds,
                update_heartbeat_interval=heartbeat_seconds,
                stalled_worker_timeout=stalled_after_seconds,
                shutdown_graceful_timeout=graceful_seconds + 5,
                listen_notify=True,
                delete_jobs="successful",
            ),
            name=f"procrastinate worker {name}",
        )
        reaper = asyncio.create_task(self._reap(stalled_after_seconds, heartbeat_seconds), name="stalled jobs")
        try:
            await stop.wait()
        finally:
            reaper.cancel()
            graceful = asyncio.create_task(self._after(graceful_seconds, on_graceful_timeout))
            worker.cancel()  # procrastinate stops fetching and waits for running jobs
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            graceful.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
                await graceful

    @staticmethod
    async def _after(seconds: float, then: Callable[[], Awaitable[None]]) -> None:
        await asyncio.sleep(seconds)
        await then()

    async def _reap(self, stalled_after_seconds: float, every_seconds: float) -> None:
        """Put back in the queue the jobs of workers that stopped sending heartbeats."""
        while True:
            await asyncio.sleep(every_seconds)
            try:
                stalled: list[Any] = list(
                    await self.app.job_manager.get_stalled_jobs(
                        queue=QUEUE_NAME, seconds_since_heartbeat=stalled_after_seconds
                    )
                )
                for job in stalled:
                    deployment_id = job.task_kwargs.get("deployment_id")
                    _log.warning("requeueing a stalled job", job_id=job.id, deployment_id=deployment_id)
                    await self.app.job_manager.retry_job(job)
            except (procrastinate_errors.ProcrastinateException, OSError) as failed:
                _log.warning("could not look for stalled jobs", error=str(failed))
