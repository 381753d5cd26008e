"""The deployment queue: how API servers hand deployments to workers (queue execution).

In the embedded mode there is no queue: the process that accepts a deployment runs it.
With ``execution = "queue"`` the API stores a deployment as ``queued`` and enqueues a
job naming it; a worker takes the job and runs the deployment with the same engine.
Jobs of one application and environment carry the same ``lock``: they run one at a
time, in the order they were queued, whichever workers are free.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Protocol

from uno.core.result import Result


class QueuePolicy(StrEnum):
    """What a new deployment does while another of the same app and environment is active."""

    QUEUE = "queue"  # wait its turn (first in, first out)
    REJECT = "reject"  # refused with CONFLICT
    REPLACE = "replace"  # queued, and deployments still waiting before it are canceled (superseded)


#: A worker's handler of one job: run (or carry on) the deployment it names.
Handler = Callable[[str], Awaitable[None]]


class DeploymentQueue(Protocol):
    async def enqueue(self, deployment_id: str, lock: str) -> Result[str]:
        """Queue a job for the deployment; returns the job's id."""
        ...

    async def withdraw(self, job_id: str) -> bool:
        """Take a job that has not started out of the queue; False once a worker has it."""
        ...
