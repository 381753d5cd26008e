"""Pipelines, stages and tasks: their structure and their state machines.

A pipeline is ordered stages; a stage holds tasks; a task names an *action* and may
depend on tasks of its own or an earlier stage. Dependencies can only name tasks that
already exist, so the graph is acyclic by construction.

Every status change goes through one method here, which refuses transitions that make
no sense (a bug, so it raises) and returns a ``PipelineEvent`` for the journal.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from uno.deployment.domain.enums import PipelineStatus, StageStatus, TaskStatus
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId

DEFAULT_TASK_TIMEOUT = 30.0
MAX_TASK_TIMEOUT = 7 * 24 * 3600.0
MAX_RETRIES = 20

_TASK_MOVES: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.RUNNING, TaskStatus.SKIPPED, TaskStatus.CANCELED}),
    # back to pending only when a resumed run re-runs a task its crashed runner left running
    TaskStatus.RUNNING: frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELED, TaskStatus.PENDING}),
}
_STAGE_MOVES: dict[StageStatus, frozenset[StageStatus]] = {
    StageStatus.PENDING: frozenset({StageStatus.RUNNING, StageStatus.SKIPPED, StageStatus.CANCELED}),
    StageStatus.RUNNING: frozenset({StageStatus.SUCCEEDED, StageStatus.FAILED, StageStatus.CANCELED}),
}
_PIPELINE_MOVES: dict[PipelineStatus, frozenset[PipelineStatus]] = {
    PipelineStatus.PENDING: frozenset({PipelineStatus.QUEUED, PipelineStatus.RUNNING, PipelineStatus.CANCELED}),
    PipelineStatus.QUEUED: frozenset({PipelineStatus.RUNNING, PipelineStatus.CANCELED}),
    PipelineStatus.RUNNING: frozenset({PipelineStatus.SUCCEEDED, PipelineStatus.FAILED, PipelineStatus.CANCELED}),
}


class InvalidTransition(RuntimeError):
    """A status change the state machine does not allow: always a bug in the caller."""


@dataclass(frozen=True, slots=True)
class PipelineEvent:
    """One line of a pipeline's journal: ``subject`` moved from ``old`` to ``new``."""

    at: datetime
    pipeline_id: PipelineId
    subject: str  # "pipeline", "stage" or "task"
    subject_id: str
    old: str
    new: str
    message: str = ""

    def to_document(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "pipeline_id": self.pipeline_id.value,
            "subject": self.subject,
            "subject_id": self.subject_id,
            "old": self.old,
            "new": self.new,
            "message": self.message,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> PipelineEvent:
        return cls(
            at=datetime.fromisoformat(document["at"]),
            pipeline_id=PipelineId(document["pipeline_id"]),
            subject=document["subject"],
            subject_id=document["subject_id"],
            old=document["old"],
            new=document["new"],
            message=document.get("message", ""),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """A status change to store: the journal's event and its subject's state after it.

    Storing a transition is a small update of one subject plus one journal line, so a
    1,000-task pipeline never rewrites its 1,000 tasks at each step.
    """

    event: PipelineEvent
    state: dict[str, Any]

    @classmethod
    def of(cls, event: PipelineEvent, subject: Task | Stage | Pipeline) -> Transition:
        return cls(event, subject.state())


@dataclass(slots=True)
class Task:
    id: TaskId
    name: str
    action: str
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    dependencies: list[TaskId] = field(default_factory=list)
    timeout: float = DEFAULT_TASK_TIMEOUT
    retries: int = 0
    skip_on_failure: bool = False
    status: TaskStatus = TaskStatus.PENDING
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    authorized_by: str = ""
    """The admin who defined this task, when its action is free-form (empty otherwise)."""

    def move(self, pipeline_id: PipelineId, new: TaskStatus, now: datetime, message: str = "") -> PipelineEvent:
        old = self.status
        if new not in _TASK_MOVES.get(old, frozenset()):
            raise InvalidTransition(f"task {self.name!r} cannot go from {old} to {new}")
        self.status, self.message = new, message
        if new is TaskStatus.RUNNING:
            self.attempts += 1
            self.started_at = self.started_at or now
        elif new.is_complete:
            self.finished_at = now
        return PipelineEvent(now, pipeline_id, "task", self.id.value, old.value, new.value, message)

    def state(self) -> dict[str, Any]:
        """What a run changes about this task (the rest is its definition)."""
        return {
            "status": self.status.value,
            "attempts": self.attempts,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "message": self.message,
            "outputs": self.outputs,
        }

    def retry(self, pipeline_id: PipelineId, now: datetime, message: str) -> PipelineEvent:
        """Start another attempt of a running task (the status stays ``running``)."""
        if self.status is not TaskStatus.RUNNING:
            raise InvalidTransition(f"task {self.name!r} is {self.status}, not running: it cannot retry")
        self.attempts += 1
        return PipelineEvent(now, pipeline_id, "task", self.id.value, "running", "running", message)

    def note(self, pipeline_id: PipelineId, now: datetime, message: str) -> PipelineEvent:
        """Say what a running task is doing now, such as waiting for a person (it stays ``running``)."""
        if self.status is not TaskStatus.RUNNING:
            raise InvalidTransition(f"task {self.name!r} is {self.status}, not running: it has nothing to report")
        self.message = message
        return PipelineEvent(now, pipeline_id, "task", self.id.value, "running", "running", message)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id.value,
            "name": self.name,
            "action": self.action,
            "description": self.description,
            "params": self.params,
            "dependencies": [dependency.value for dependency in self.dependencies],
            "timeout": self.timeout,
            "retries": self.retries,
            "skip_on_failure": self.skip_on_failure,
            "status": self.status.value,
            "attempts": self.attempts,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "message": self.message,
            "outputs": self.outputs,
            **({"authorized_by": self.authorized_by} if self.authorized_by else {}),
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Task:
        return cls(
            id=TaskId.stored(document["id"]),
            name=document["name"],
            action=document["action"],
            description=document.get("description", ""),
            params=dict(document.get("params", {})),
            dependencies=[TaskId.stored(value) for value in document.get("dependencies", [])],
            timeout=float(document.get("timeout", DEFAULT_TASK_TIMEOUT)),
            retries=int(document.get("retries", 0)),
            skip_on_failure=bool(document.get("skip_on_failure", False)),
            status=TaskStatus(document["status"]),
            attempts=int(document.get("attempts", 0)),
            started_at=_parse(document.get("started_at")),
            finished_at=_parse(document.get("finished_at")),
            message=document.get("message", ""),
            outputs=dict(document.get("outputs", {})),
            authorized_by=str(document.get("authorized_by", "")),
        )


@dataclass(slots=True)
class Stage:
    id: StageId
    name: str
    description: str = ""
    fail_fast: bool = True
    tasks: list[Task] = field(default_factory=list)
    status: StageStatus = StageStatus.PENDING
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str = ""

    def move(self, pipeline_id: PipelineId, new: StageStatus, now: datetime, message: str = "") -> PipelineEvent:
        old = self.status
        if new not in _STAGE_MOVES.get(old, frozenset()):
            raise InvalidTransition(f"stage {self.name!r} cannot go from {old} to {new}")
        self.status, self.message = new, message
        if new is StageStatus.RUNNING:
            self.started_at = now
        elif new.is_complete:
            self.finished_at = now
        return PipelineEvent(now, pipeline_id, "stage", self.id.value, old.value, new.value, message)

    def state(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "message": self.message,
        }

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id.value,
            "name": self.name,
            "description": self.description,
            "fail_fast": self.fail_fast,
            "tasks": [task.to_document() for task in self.tasks],
            "status": self.status.value,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "message": self.message,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Stage:
        return cls(
            id=StageId.stored(document["id"]),
            name=document["name"],
            description=document.get("description", ""),
            fail_fast=bool(document.get("fail_fast", True)),
            tasks=[Task.from_document(task) for task in document.get("tasks", [])],
            status=StageStatus(document["status"]),
            started_at=_parse(document.get("started_at")),
            finished_at=_parse(document.get("finished_at")),
            message=document.get("message", ""),
        )


@dataclass(slots=True)
class Pipeline:
    id: PipelineId
    name: str
    deployment_id: DeploymentId
    created_at: datetime
    description: str = ""
    config_id: DeploymentId | None = None
    stages: list[Stage] = field(default_factory=list)
    status: PipelineStatus = PipelineStatus.PENDING
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str = ""
    canceled_by: str | None = None
    version: int = 1

    def move(self, new: PipelineStatus, now: datetime, message: str = "") -> PipelineEvent:
        old = self.status
        if new not in _PIPELINE_MOVES.get(old, frozenset()):
            raise InvalidTransition(f"pipeline {self.name!r} cannot go from {old} to {new}")
        self.status, self.message = new, message
        if new is PipelineStatus.RUNNING:
            self.started_at = now
        elif new.is_complete:
            self.finished_at = now
        return PipelineEvent(now, self.id, "pipeline", self.id.value, old.value, new.value, message)

    def state(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "message": self.message,
            "canceled_by": self.canceled_by,
        }

    def apply(self, states: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        """Set stored states ``(subject kind, subject id, state)`` on this pipeline's subjects.

        This is how repositories load a run: the structure, then the recorded states.
        """
        subjects: dict[tuple[str, str], Pipeline | Stage | Task] = {("pipeline", self.id.value): self}
        for stage in self.stages:
            subjects[("stage", stage.id.value)] = stage
            subjects.update((("task", task.id.value), task) for task in stage.tasks)
        for kind, subject_id, state in states:
            subject = subjects.get((kind, subject_id))
            if subject is None:
                raise KeyError(f"{kind} {subject_id} is not part of pipeline {self.id.value}")
            _set_state(subject, state)

    def stage(self, stage_id: StageId) -> Stage | None:
        return next((stage for stage in self.stages if stage.id == stage_id), None)

    def tasks(self) -> Iterator[tuple[Stage, Task]]:
        for stage in self.stages:
            for task in stage.tasks:
                yield stage, task

    def task(self, task_id: TaskId) -> Task | None:
        return next((task for _, task in self.tasks() if task.id == task_id), None)

    def task_named(self, name: str) -> Task | None:
        return next((task for _, task in self.tasks() if task.name == name), None)

    def dependency_problem(self, stage: Stage, dependencies: list[TaskId]) -> str | None:
        """Why these dependencies cannot be added to ``stage`` (None when they can)."""
        position = self.stages.index(stage)
        allowed = {task.id for earlier in self.stages[: position + 1] for task in earlier.tasks}
        later = {task.id for later_stage in self.stages[position + 1 :] for task in later_stage.tasks}
        for dependency in dependencies:
            if dependency in later:
                return f"{dependency.value} is in a later stage; a task can only depend on its own or earlier stages"
            if dependency not in allowed:
                return f"{dependency.value} is not a task of this pipeline"
        if len(set(dependencies)) != len(dependencies):
            return "lists a task twice"
        return None

    @property
    def progress(self) -> float:
        """The share of tasks that have finished, from 0.0 to 1.0."""
        tasks = [task for _, task in self.tasks()]
        if not tasks:
            return 1.0 if self.status.is_complete else 0.0
        return sum(task.status.is_complete for task in tasks) / len(tasks)

    def current(self) -> tuple[Stage | None, Task | None]:
        """The stage running now and its first running task."""
        stage = next((stage for stage in self.stages if stage.status is StageStatus.RUNNING), None)
        task = next((task for task in stage.tasks if task.status is TaskStatus.RUNNING), None) if stage else None
        return stage, task

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id.value,
            "name": self.name,
            "description": self.description,
            "deployment_id": self.deployment_id.value,
            "config_id": self.config_id.value if self.config_id else None,
            "stages": [stage.to_document() for stage in self.stages],
            "status": self.status.value,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "message": self.message,
            "canceled_by": self.canceled_by,
            "version": self.version,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Pipeline:
        created_at = _parse(document["created_at"])
        assert created_at is not None
        return cls(
            id=PipelineId(document["id"]),
            name=document["name"],
            description=document.get("description", ""),
            deployment_id=DeploymentId(document["deployment_id"]),
            config_id=DeploymentId(document["config_id"]) if document.get("config_id") else None,
            stages=[Stage.from_document(stage) for stage in document.get("stages", [])],
            status=PipelineStatus(document["status"]),
            created_at=created_at,
            started_at=_parse(document.get("started_at")),
            finished_at=_parse(document.get("finished_at")),
            message=document.get("message", ""),
            canceled_by=document.get("canceled_by"),
            version=int(document.get("version", 1)),
        )


def _set_state(subject: Pipeline | Stage | Task, state: dict[str, Any]) -> None:
    status_type = {Pipeline: PipelineStatus, Stage: StageStatus, Task: TaskStatus}[type(subject)]
    for name, stored in state.items():
        if name == "status":
            setattr(subject, name, status_type(stored))
        elif name in ("started_at", "finished_at"):
            setattr(subject, name, _parse(stored))
        else:
            setattr(subject, name, stored)


def _iso(moment: datetime | None) -> str | None:
    return _iso_of(moment) if moment else None


@functools.lru_cache(maxsize=256)
def _iso_of(moment: datetime) -> str:
    # transitions stored together share one ``now``: format it once
    return moment.isoformat()


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
