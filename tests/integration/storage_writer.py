"""The writer process of the durability test: records batches of transitions until killed.

    python -m tests.integration.storage_writer URL PIPELINE_ID

Each batch has its own message, ``batch <k> of <n>``, on every one of its ``n`` events, so
the test can tell whole batches from torn ones. It prints ``committed <k>`` after each
batch, first a few small batches, then ``writing big batches`` and big ones, forever.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from uno.deployment.adapters.clocks import SystemClock
from uno.deployment.adapters.repositories.sql import stores
from uno.deployment.domain.ids import PipelineId
from uno.deployment.domain.pipelines import PipelineEvent, Transition

SMALL, BIG = 10, 5000


def batch(pipeline_id: PipelineId, task_ids: list[str], number: int, size: int) -> list[Transition]:
    message = f"batch {number} of {size}"
    now = datetime.now(UTC)
    return [
        Transition(
            PipelineEvent(now, pipeline_id, "task", task_ids[index % len(task_ids)], "running", "running", message),
            {"attempts": number, "message": message},
        )
        for index in range(size)
    ]


async def main(url: str, pipeline_id: PipelineId) -> None:
    store = stores.open_store(url, SystemClock(), migrate=False)
    pipeline = await store.pipelines.get(pipeline_id)
    assert pipeline is not None
    task_ids = [task.id.value for _, task in pipeline.tasks()]
    number = 0
    while True:
        number += 1
        size = SMALL if number <= 5 else BIG
        if number == 6:
            print("writing big batches", flush=True)
        recorded = await store.pipelines.record(pipeline_id, batch(pipeline_id, task_ids, number, size))
        assert recorded.is_success(), recorded
        print(f"committed {number}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], PipelineId(sys.argv[2])))
