"""Approval decisions: how a manual gate in a running pipeline learns its outcome.

A decision is written once (the first one wins; a second is a ``CONFLICT``) by whoever
approves or rejects, from any process; the gate's action reads it. Storing it apart from
the pipeline keeps the runner the only writer of the pipeline's own state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from uno.core.result import Result
from uno.deployment.domain.ids import PipelineId, TaskId


@dataclass(frozen=True, slots=True)
class Decision:
    pipeline_id: PipelineId
    task_id: TaskId
    approved: bool
    by: str
    at: datetime
    comment: str = ""


class DecisionRepository(Protocol):
    async def decide(self, decision: Decision) -> Result[Decision]:
        """Store the decision for its gate, or ``CONFLICT`` if the gate was already decided."""
        ...

    async def get(self, pipeline_id: PipelineId, task_id: TaskId) -> Decision | None: ...
