"""Steering a running canary by hand: promote it past a step (or to 100% at once), or abort it.

Each step of a canary is a *slot* that takes exactly one decision. Slots are kept in the
approval decisions store (``ports.approvals``, first decision wins, from any process)
under the deploy task's id plus ``:canary-<attempt>-<weight>``: no table of their own,
and no approval gate can read one. A person decides through ``DeploymentService.promote``
and ``abort``; a rollout leaving a step that nobody decided settles the slot itself (an
*automatic* decision: its analysis passed or failed, its pause ran out), so a person's
decision that comes a moment too late is refused instead of being silently lost.

The rollout publishes where it is (a ``Position``) in its task's outputs under
``"canary"``, which is how the service learns which slot a decision is for.

Invariants: a slot's decision never changes; the rollout acts on a slot's stored
decision, whoever made it; each attempt of a deploy task has slots of its own (a retried
deploy starts a new canary, which nobody has decided anything about yet).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.enums import TaskStatus
from uno.deployment.domain.ids import PipelineId, TaskId
from uno.deployment.domain.pipelines import Task
from uno.deployment.ports.approvals import Decision, DecisionRepository
from uno.deployment.ports.clock import Clock

POLL_SECONDS = 1.0
AUTOMATIC = "uno-deploy"  # who settles a slot nobody decided
_AUTOMATIC_MARK = "/auto"


class Move(enum.Enum):
    PROMOTE = "promote"  # go on to the next step now
    PROMOTE_FULL = "promote-full"  # go to 100% at once (the canary is still health-checked)
    ABORT = "abort"  # traffic back to the stable version, canary removed, the deploy fails


@dataclass(frozen=True, slots=True)
class CanaryDecision:
    move: Move
    by: str
    at: datetime
    reason: str = ""
    automatic: bool = False  # the rollout settled the slot: no person decided in time

    def describe(self) -> str:
        """``promoted by alice``, ``promoted to 100% by alice``, ``aborted by bob: <why>``, ``promoted: <why>``."""
        verb = {Move.PROMOTE: "promoted", Move.PROMOTE_FULL: "promoted to 100%", Move.ABORT: "aborted"}[self.move]
        who = "" if self.automatic else f" by {self.by}"
        return f"{verb}{who}" + (f": {self.reason}" if self.reason else "")

    def to_output(self, step: int) -> dict[str, Any]:
        return {
            "step": step,
            "decision": self.move.value,
            "by": self.by,
            "at": self.at.isoformat(),
            "reason": self.reason,
            "automatic": self.automatic,
        }


@dataclass(frozen=True, slots=True)
class Position:
    """Where a running canary is: the step (weight) it is at, paused or not, and until when."""

    attempt: int
    step: int
    paused: bool = False
    deadline: datetime | None = None  # when an undecided pause ends
    on_timeout: str = "abort"

    def to_outputs(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "step": self.step,
            "paused": self.paused,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "on_timeout": self.on_timeout,
        }


def position_of(task: Task) -> Position | None:
    """Where the canary of a running deploy task is; None when it has none in progress (yet)."""
    published = task.outputs.get("canary")
    if task.status is not TaskStatus.RUNNING or not isinstance(published, dict):
        return None
    if published.get("attempt") != task.attempts:  # left by an earlier attempt: this one has not started its steps
        return None
    deadline = published.get("deadline")
    return Position(
        attempt=task.attempts,
        step=int(published["step"]),
        paused=bool(published.get("paused")),
        deadline=datetime.fromisoformat(deadline) if isinstance(deadline, str) else None,
        on_timeout=str(published.get("on_timeout", "abort")),
    )


class CanaryControl:
    """The decision slots of one attempt of one deploy task."""

    def __init__(self, decisions: DecisionRepository, pipeline_id: PipelineId, task_id: TaskId, attempt: int) -> None:
        self._decisions = decisions
        self._pipeline_id = pipeline_id
        self._task_id = task_id
        self.attempt = attempt

    def slot(self, step: int) -> TaskId:
        return TaskId(f"{self._task_id.value}:canary-{self.attempt}-{step}")

    async def decision(self, step: int) -> CanaryDecision | None:
        stored = await self._decisions.get(self._pipeline_id, self.slot(step))
        return _decoded(stored) if stored is not None else None

    async def decide(self, step: int, decision: CanaryDecision) -> Result[CanaryDecision]:
        """Store the step's decision, or ``CONFLICT`` saying who decided it first."""
        stored = await self._decisions.decide(_encoded(self._pipeline_id, self.slot(step), decision))
        if isinstance(stored, Success):
            return Success(decision)
        existing = await self.decision(step) if stored.error.code is ErrorCode.CONFLICT else None
        if existing is None:
            return stored
        message = f"the canary's step at {step}% was already {existing.describe()}"
        context = {"step": step, **existing.to_output(step)}
        return Failure(ErrorDetails.conflict(message, **context))

    async def settle(self, step: int, proposal: CanaryDecision) -> CanaryDecision:
        """The step's decision once the rollout leaves it: the stored one, else ``proposal`` (now stored)."""
        stored = await self.decide(step, proposal)
        if isinstance(stored, Success):
            return proposal
        return await self.decision(step) or proposal  # the store failed: the rollout goes on by itself


async def watch(control: CanaryControl | None, clock: Clock, step: int, seconds: float) -> CanaryDecision | None:
    """Wait ``seconds`` on ``clock``, ending early with the step's decision as soon as one is stored.

    Polls like the approval gate does, so a decision given in another process arrives
    within ``POLL_SECONDS``; cancelling the caller ends the wait at once.
    """
    deadline = clock.monotonic() + seconds
    while True:
        decided = await control.decision(step) if control is not None else None
        if decided is not None:
            return decided
        left = deadline - clock.monotonic()
        if left <= 0:
            return None
        await clock.sleep(min(POLL_SECONDS, left))


def _encoded(pipeline_id: PipelineId, slot: TaskId, decision: CanaryDecision) -> Decision:
    """As an approval decision: approved unless an abort, the comment ``<move>[/auto][: <reason>]``."""
    head = decision.move.value + (_AUTOMATIC_MARK if decision.automatic else "")
    comment = f"{head}: {decision.reason}" if decision.reason else head
    return Decision(pipeline_id, slot, decision.move is not Move.ABORT, decision.by, decision.at, comment)


def _decoded(stored: Decision) -> CanaryDecision:
    head, _, reason = stored.comment.partition(": ")
    name, mark, _ = head.partition(_AUTOMATIC_MARK)
    moves = {move.value: move for move in Move}
    move = moves.get(name, Move.PROMOTE if stored.approved else Move.ABORT)
    return CanaryDecision(move, stored.by, stored.at, reason, automatic=bool(mark))
