"""Engine throughput: a 1,000-task DAG of no-op actions, against plain asyncio, in one run.

    .venv/bin/python benchmarks/engine.py [--tasks 1000] [--rounds 5]

The DAG has layers with fan-out and fan-in: a root, layers of ``width`` tasks each
depending on two tasks of the layer before, and a sink depending on the whole last layer.
The baseline runs the same no-op coroutines layer by layer with ``asyncio.gather``. Every
engine transition is recorded (state update plus journal event) through the store.
Prints task completions per second for each store and its ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from uno.deployment import bootstrap
from uno.deployment.domain.ids import PipelineId, StageId, TaskId
from uno.deployment.domain.pipelines import Pipeline, Stage, Task
from uno.deployment.engine.actions import ActionContext, ActionOutcome, ActionRegistry


class NoOp:
    kind = "noop"

    def check(self, params: dict[str, Any]) -> str | None:
        return None

    async def run(self, context: ActionContext) -> ActionOutcome:
        return ActionOutcome.ok()


async def noop() -> None:
    return None


def layers(total: int) -> list[int]:
    width = max(2, round((total - 2) ** 0.5))
    sizes = [1]
    remaining = total - 2
    while remaining > 0:
        sizes.append(min(width, remaining))
        remaining -= sizes[-1]
    return [*sizes, 1]


async def build_pipeline(container: bootstrap.Container, total: int) -> PipelineId:
    """Store the DAG as one pipeline (built directly: adding 1,000 tasks one call at a time is not what we time)."""
    service = container.config_service
    config = (await service.create_config(app_name="bench", app_version="1.0.0", environment="dev")).value
    stage = Stage(StageId.new(), "dag", fail_fast=False)
    previous: list[Task] = []
    for layer in layers(total):
        current = []
        for index in range(layer):
            if not previous:
                dependencies: list[Task] = []
            elif layer == 1:
                dependencies = previous
            else:
                pair = [previous[index % len(previous)], previous[(index + 1) % len(previous)]]
                dependencies = list({task.id: task for task in pair}.values())
            task = Task(TaskId.new(), f"t{len(stage.tasks)}", "noop", dependencies=[t.id for t in dependencies])
            stage.tasks.append(task)
            current.append(task)
        previous = current
    pipeline = Pipeline(PipelineId.new(), "dag", config.id, container.clock.now(), config_id=config.id, stages=[stage])
    await container.pipelines.add(pipeline)
    return pipeline.id


async def engine_rate(total: int, make: Any) -> float:
    container = make()
    try:
        pipeline_id = await build_pipeline(container, total)
        started = time.perf_counter()
        result = await container.pipeline_service.execute_pipeline(pipeline_id)
        elapsed = time.perf_counter() - started
    finally:
        await container.aclose()
    assert result.value.status.value == "succeeded", result
    return total / elapsed


async def baseline_rate(total: int) -> float:
    started = time.perf_counter()
    for layer in layers(total):
        await asyncio.gather(*(noop() for _ in range(layer)))
    return total / (time.perf_counter() - started)


def memory_container() -> bootstrap.Container:
    registry = ActionRegistry([NoOp()])
    # transition logs at WARNING and up: the figure is the engine and its store, not log output
    settings = bootstrap.Settings(database_url="memory://", max_parallel_tasks=256, log_level="WARNING")
    return bootstrap.build(settings, actions=registry)


_FOLDER = tempfile.TemporaryDirectory(prefix="uno-engine-bench-")
_FILES = iter(range(1_000_000))


def sqlite_container() -> bootstrap.Container:
    """A fresh SQLite file per run, in a temporary folder removed at exit."""
    path = Path(_FOLDER.name) / f"engine-{next(_FILES)}.db"
    settings = bootstrap.Settings(database_url=f"sqlite:///{path}", max_parallel_tasks=256, log_level="WARNING")
    return bootstrap.build(settings, actions=ActionRegistry([NoOp()]))


STORES = {"memory": memory_container, "sqlite": sqlite_container}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    baseline = statistics.median([await baseline_rate(arguments.tasks) for _ in range(arguments.rounds)])
    print(f"DAG of {arguments.tasks} tasks in layers {layers(arguments.tasks)[:4]}..., median of {arguments.rounds}")
    print(f"{'asyncio.gather (baseline)':<28} {baseline:>12,.0f} tasks/s   ratio 1.000")
    for name, make in STORES.items():
        rate = statistics.median([await engine_rate(arguments.tasks, make) for _ in range(arguments.rounds)])
        print(f"{'engine, ' + name + ' store':<28} {rate:>12,.0f} tasks/s   ratio {rate / baseline:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
