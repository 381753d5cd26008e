"""A worker process for the queue tests: ``uno-deploy worker`` with the platform steps as doubles.

    python tests/integration/queue_worker.py NAME

Settings come from the environment (UNO_DEPLOY_EXECUTION=queue, UNO_DEPLOY_DATABASE_URL,
UNO_DEPLOY_LEASE_TTL_SECONDS...). The deploy step takes ``STEP_SECONDS`` (0.05 by
default), or ``SLOW_STEP_SECONDS`` for applications whose name starts with ``slow``; it
is idempotent, so a deployment whose worker died is resumed by running it again.
SIGTERM stops the worker gracefully.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from uno.deployment import bootstrap
from uno.deployment.engine.actions import ActionContext, ActionOutcome, ActionRegistry
from uno.deployment.engine.builtin_actions import builtin_actions
from uno.deployment.settings import Settings


class Step:
    idempotent = True

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def check(self, params: dict[str, Any]) -> str | None:
        return None

    async def run(self, context: ActionContext) -> ActionOutcome:
        if self.kind == "deploy" and context.config is not None:
            slow = context.config.app_name.startswith("slow")
            seconds = float(os.environ.get("SLOW_STEP_SECONDS" if slow else "STEP_SECONDS", "0.05"))
            await asyncio.sleep(seconds)
        return ActionOutcome.ok(f"{self.kind} done by {sys.argv[1]}", worker=sys.argv[1])


async def main(name: str) -> None:
    registry = ActionRegistry(builtin_actions())
    for kind in ("deploy", "health_check", "verify", "rollback"):
        registry.register(Step(kind))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    print("ready", flush=True)
    concurrency = int(os.environ.get("WORKER_CONCURRENCY", "4"))
    await bootstrap.run_worker(Settings(), name=name, concurrency=concurrency, stop=stop, actions=registry)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
