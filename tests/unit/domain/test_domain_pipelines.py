"""Pipelines, stages and tasks: state machines, documents, dependencies and progress."""

from datetime import UTC, datetime, timedelta
from enum import Enum
from itertools import product
from typing import TypeVar

import pytest

from uno.deployment.domain.enums import PipelineStatus, StageStatus, TaskStatus
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId, new_config_id
from uno.deployment.domain.pipelines import InvalidTransition, Pipeline, PipelineEvent, Stage, Task

NOW = datetime(2026, 1, 1, tzinfo=UTC)
StatusT = TypeVar("StatusT", TaskStatus, StageStatus, PipelineStatus)
PIPELINE_ID = PipelineId("pipe-1")

TASK_MOVES = {
    (TaskStatus.PENDING, TaskStatus.RUNNING),
    (TaskStatus.PENDING, TaskStatus.SKIPPED),
    (TaskStatus.PENDING, TaskStatus.CANCELED),
    (TaskStatus.RUNNING, TaskStatus.SUCCEEDED),
    (TaskStatus.RUNNING, TaskStatus.FAILED),
    (TaskStatus.RUNNING, TaskStatus.CANCELED),
    (TaskStatus.RUNNING, TaskStatus.PENDING),  # a resumed run requeues an interrupted task
}
STAGE_MOVES = {
    (StageStatus(old.value), StageStatus(new.value))
    for old, new in TASK_MOVES
    if (old, new) != (TaskStatus.RUNNING, TaskStatus.PENDING)
}
PIPELINE_MOVES = {
    (PipelineStatus.PENDING, PipelineStatus.QUEUED),
    (PipelineStatus.PENDING, PipelineStatus.RUNNING),
    (PipelineStatus.PENDING, PipelineStatus.CANCELED),
    (PipelineStatus.QUEUED, PipelineStatus.RUNNING),
    (PipelineStatus.QUEUED, PipelineStatus.CANCELED),
    (PipelineStatus.RUNNING, PipelineStatus.SUCCEEDED),
    (PipelineStatus.RUNNING, PipelineStatus.FAILED),
    (PipelineStatus.RUNNING, PipelineStatus.CANCELED),
}


def forbidden(allowed: set[tuple[StatusT, StatusT]], statuses: type[StatusT]) -> list[tuple[StatusT, StatusT]]:
    """Every (old, new) pair of ``statuses`` that ``allowed`` does not list."""
    return [pair for pair in product(statuses, repeat=2) if pair not in allowed]  # type: ignore[misc]


def pair_id(pair: tuple[Enum, Enum]) -> str:
    return f"{pair[0]}->{pair[1]}"


def task(name: str, status: TaskStatus = TaskStatus.PENDING, dependencies: list[TaskId] | None = None) -> Task:
    return Task(id=TaskId(f"task-{name}"), name=name, action="shell", status=status, dependencies=dependencies or [])


def pipeline(*stages: Stage) -> Pipeline:
    return Pipeline(
        id=PIPELINE_ID, name="deploy myapp", deployment_id=DeploymentId("dep-1"), created_at=NOW, stages=list(stages)
    )


# --- tasks ----------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), sorted(TASK_MOVES), ids=pair_id)
def test_allowed_task_moves_return_an_event(old: TaskStatus, new: TaskStatus) -> None:
    subject = task("build", old)

    event = subject.move(PIPELINE_ID, new, NOW, "why")

    assert subject.status is new
    assert subject.message == "why"
    assert event == PipelineEvent(NOW, PIPELINE_ID, "task", "task-build", old.value, new.value, "why")


@pytest.mark.parametrize(("old", "new"), forbidden(TASK_MOVES, TaskStatus), ids=pair_id)
def test_forbidden_task_moves_raise(old: TaskStatus, new: TaskStatus) -> None:
    subject = task("build", old)

    with pytest.raises(InvalidTransition, match=f"task 'build' cannot go from {old} to {new}"):
        subject.move(PIPELINE_ID, new, NOW)

    assert subject.status is old


def test_a_task_records_attempts_start_finish_and_duration() -> None:
    subject = task("build")
    assert subject.duration is None

    subject.move(PIPELINE_ID, TaskStatus.RUNNING, NOW)
    assert subject.attempts == 1
    assert subject.started_at == NOW
    assert subject.duration is None

    subject.move(PIPELINE_ID, TaskStatus.SUCCEEDED, NOW + timedelta(seconds=90))
    assert subject.finished_at == NOW + timedelta(seconds=90)
    assert subject.duration == 90.0


def test_a_running_task_can_retry() -> None:
    subject = task("build")
    subject.move(PIPELINE_ID, TaskStatus.RUNNING, NOW)

    event = subject.retry(PIPELINE_ID, NOW + timedelta(seconds=5), "attempt 2")

    assert subject.attempts == 2
    assert subject.status is TaskStatus.RUNNING
    assert subject.started_at == NOW
    assert (event.old, event.new, event.message) == ("running", "running", "attempt 2")


@pytest.mark.parametrize("status", [TaskStatus.PENDING, TaskStatus.SUCCEEDED, TaskStatus.FAILED])
def test_only_a_running_task_can_retry(status: TaskStatus) -> None:
    with pytest.raises(InvalidTransition, match="cannot retry"):
        task("build", status).retry(PIPELINE_ID, NOW, "again")


# --- stages ---------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), sorted(STAGE_MOVES), ids=pair_id)
def test_allowed_stage_moves_return_an_event(old: StageStatus, new: StageStatus) -> None:
    stage = Stage(id=StageId("stg-1"), name="build", status=old)

    event = stage.move(PIPELINE_ID, new, NOW)

    assert stage.status is new
    assert (event.subject, event.subject_id, event.old, event.new) == ("stage", "stg-1", old.value, new.value)


@pytest.mark.parametrize(("old", "new"), forbidden(STAGE_MOVES, StageStatus), ids=pair_id)
def test_forbidden_stage_moves_raise(old: StageStatus, new: StageStatus) -> None:
    stage = Stage(id=StageId("stg-1"), name="build", status=old)

    with pytest.raises(InvalidTransition, match="stage 'build' cannot go"):
        stage.move(PIPELINE_ID, new, NOW)

    assert stage.status is old


def test_a_stage_records_its_start_and_finish() -> None:
    stage = Stage(id=StageId("stg-1"), name="build")

    stage.move(PIPELINE_ID, StageStatus.RUNNING, NOW)
    stage.move(PIPELINE_ID, StageStatus.FAILED, NOW + timedelta(minutes=1), "tests failed")

    assert stage.started_at == NOW
    assert stage.finished_at == NOW + timedelta(minutes=1)
    assert stage.message == "tests failed"


# --- pipelines ------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new"), sorted(PIPELINE_MOVES), ids=pair_id)
def test_allowed_pipeline_moves_return_an_event(old: PipelineStatus, new: PipelineStatus) -> None:
    subject = pipeline()
    subject.status = old

    event = subject.move(new, NOW, "moved")

    assert subject.status is new
    assert event == PipelineEvent(NOW, PIPELINE_ID, "pipeline", "pipe-1", old.value, new.value, "moved")


@pytest.mark.parametrize(("old", "new"), forbidden(PIPELINE_MOVES, PipelineStatus), ids=pair_id)
def test_forbidden_pipeline_moves_raise(old: PipelineStatus, new: PipelineStatus) -> None:
    subject = pipeline()
    subject.status = old

    with pytest.raises(InvalidTransition, match="pipeline 'deploy myapp' cannot go"):
        subject.move(new, NOW)

    assert subject.status is old


def test_a_pipeline_records_its_start_and_finish() -> None:
    subject = pipeline()

    subject.move(PipelineStatus.QUEUED, NOW)
    assert subject.started_at is None
    subject.move(PipelineStatus.RUNNING, NOW + timedelta(seconds=1))
    subject.move(PipelineStatus.SUCCEEDED, NOW + timedelta(seconds=30))

    assert subject.started_at == NOW + timedelta(seconds=1)
    assert subject.finished_at == NOW + timedelta(seconds=30)


def test_pipeline_event_round_trips_through_a_document() -> None:
    event = PipelineEvent(NOW, PIPELINE_ID, "task", "task-build", "pending", "running", "started")

    document = event.to_document()

    assert document["at"] == "2026-01-01T00:00:00+00:00"
    assert document["pipeline_id"] == "pipe-1"
    assert PipelineEvent.from_document(document) == event


def test_a_pipeline_with_stages_and_tasks_round_trips_through_a_document() -> None:
    build = Task(
        id=TaskId("task-build"),
        name="build",
        action="shell",
        description="build the image",
        params={"command": ["make", "image"], "env": {"CI": "1"}},
        timeout=120.0,
        retries=2,
        skip_on_failure=True,
        status=TaskStatus.SUCCEEDED,
        attempts=1,
        started_at=NOW,
        finished_at=NOW + timedelta(seconds=42),
        message="ok",
        outputs={"image": "myapp:1.0.0"},
    )
    deploy = Task(
        id=TaskId("task-deploy"),
        name="deploy",
        action="deploy",
        dependencies=[build.id],
        status=TaskStatus.RUNNING,
        attempts=1,
        started_at=NOW + timedelta(minutes=1),
    )
    original = Pipeline(
        id=PIPELINE_ID,
        name="deploy myapp",
        description="release 1.0.0",
        deployment_id=DeploymentId("dep-1"),
        config_id=new_config_id(),
        created_at=NOW,
        stages=[
            Stage(id=StageId("stg-build"), name="build", tasks=[build], status=StageStatus.SUCCEEDED, started_at=NOW),
            Stage(id=StageId("stg-deploy"), name="deploy", fail_fast=False, tasks=[deploy], status=StageStatus.RUNNING),
        ],
        status=PipelineStatus.RUNNING,
        started_at=NOW,
        message="deploying",
        canceled_by=None,
        version=3,
    )

    document = original.to_document()
    restored = Pipeline.from_document(document)

    assert restored == original
    assert restored.to_document() == document
    assert document["stages"][1]["tasks"][0]["dependencies"] == ["task-build"]


def test_a_minimal_pipeline_round_trips_through_a_document() -> None:
    original = pipeline()

    assert Pipeline.from_document(original.to_document()) == original


# --- looking things up ----------------------------------------------------------------


def test_a_pipeline_finds_its_stages_and_tasks() -> None:
    build, deploy = task("build"), task("deploy")
    subject = pipeline(
        Stage(id=StageId("stg-1"), name="build", tasks=[build]), Stage(id=StageId("stg-2"), name="ship", tasks=[deploy])
    )

    assert subject.stage(StageId("stg-2")) is subject.stages[1]
    assert subject.stage(StageId("stg-9")) is None
    assert subject.task(TaskId("task-deploy")) is deploy
    assert subject.task(TaskId("task-nope")) is None
    assert subject.task_named("build") is build
    assert subject.task_named("nope") is None
    assert [(stage.name, item.name) for stage, item in subject.tasks()] == [("build", "build"), ("ship", "deploy")]


# --- dependencies ---------------------------------------------------------------------


@pytest.fixture
def three_stages() -> Pipeline:
    return pipeline(
        Stage(id=StageId("stg-1"), name="build", tasks=[task("lint"), task("compile")]),
        Stage(id=StageId("stg-2"), name="test", tasks=[task("unit")]),
        Stage(id=StageId("stg-3"), name="deploy", tasks=[task("ship")]),
    )


@pytest.mark.parametrize(
    "dependencies",
    [[], [TaskId("task-unit")], [TaskId("task-lint"), TaskId("task-compile"), TaskId("task-unit")]],
)
def test_a_task_may_depend_on_its_own_or_earlier_stages(three_stages: Pipeline, dependencies: list[TaskId]) -> None:
    assert three_stages.dependency_problem(three_stages.stages[1], dependencies) is None


def test_a_task_cannot_depend_on_a_later_stage(three_stages: Pipeline) -> None:
    problem = three_stages.dependency_problem(three_stages.stages[1], [TaskId("task-ship")])

    assert problem is not None
    assert "task-ship is in a later stage" in problem


def test_a_task_cannot_depend_on_an_unknown_task(three_stages: Pipeline) -> None:
    problem = three_stages.dependency_problem(three_stages.stages[2], [TaskId("task-ghost")])

    assert problem == "task-ghost is not a task of this pipeline"


def test_a_task_cannot_list_a_dependency_twice(three_stages: Pipeline) -> None:
    problem = three_stages.dependency_problem(three_stages.stages[2], [TaskId("task-unit"), TaskId("task-unit")])

    assert problem == "lists a task twice"


# --- progress and the current step ----------------------------------------------------


def test_progress_is_the_share_of_finished_tasks() -> None:
    subject = pipeline(
        Stage(
            id=StageId("stg-1"),
            name="build",
            tasks=[
                task("a", TaskStatus.SUCCEEDED),
                task("b", TaskStatus.SKIPPED),
                task("c", TaskStatus.RUNNING),
                task("d", TaskStatus.PENDING),
            ],
        )
    )

    assert subject.progress == 0.5


@pytest.mark.parametrize(
    ("status", "expected"),
    [(PipelineStatus.PENDING, 0.0), (PipelineStatus.RUNNING, 0.0), (PipelineStatus.SUCCEEDED, 1.0)],
)
def test_progress_of_a_pipeline_without_tasks_follows_its_status(status: PipelineStatus, expected: float) -> None:
    subject = pipeline()
    subject.status = status

    assert subject.progress == expected


def test_current_is_the_running_stage_and_its_running_task() -> None:
    running = task("unit", TaskStatus.RUNNING)
    subject = pipeline(
        Stage(
            id=StageId("stg-1"),
            name="build",
            tasks=[task("compile", TaskStatus.SUCCEEDED)],
            status=StageStatus.SUCCEEDED,
        ),
        Stage(
            id=StageId("stg-2"),
            name="test",
            tasks=[task("lint", TaskStatus.SUCCEEDED), running, task("e2e")],
            status=StageStatus.RUNNING,
        ),
    )

    stage, current_task = subject.current()

    assert stage is subject.stages[1]
    assert current_task is running


def test_current_is_empty_when_nothing_runs() -> None:
    subject = pipeline(Stage(id=StageId("stg-1"), name="build", tasks=[task("compile")]))

    assert subject.current() == (None, None)


def test_current_has_no_task_between_tasks_of_a_running_stage() -> None:
    subject = pipeline(
        Stage(
            id=StageId("stg-1"), name="build", tasks=[task("compile", TaskStatus.SUCCEEDED)], status=StageStatus.RUNNING
        )
    )

    stage, current_task = subject.current()

    assert stage is subject.stages[0]
    assert current_task is None
