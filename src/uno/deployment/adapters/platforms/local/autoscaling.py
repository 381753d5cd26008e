"""The local agent's autoscaler: measures replicas' CPU and scales the live version set, like an HPA.

Why in the agent: it owns the replicas and the routers, and outlives the deploy that
asked for autoscaling, so it is the one that can watch the load for as long as the
release runs. What a version set wants is decided by ``scaling`` (the HPA's algorithm);
this module measures (``measuring``), asks, acts through the agent's own resize (the
same path as a ``scale_version`` request: replicas leaving are taken out of the routes
before they stop, new ones get traffic once their health checks pass), and records.

Invariants:
- only a version set that takes all of its application's traffic, with no rollout under
  way, is scaled: no other version set of the application, except previous releases at
  0 % waiting for their rollback window to end. During a rollout the strategy owns the
  replica counts, so the autoscaler and a deploy never fight;
- a version set scaled to 0 stays at 0 (as under an HPA, whose scaling stops there);
- a version set is scaled only after it has been in charge for one whole interval: the
  first measurement after a rollout is its own, and a deploy's verification right after
  its traffic switch sees the replicas the strategy started;
- a scale-down never comes sooner than ``stabilization`` seconds after a higher
  recommendation, including the replica count found when the agent (re)started;
- every scale is recorded on the version set (``VersionMeta.scale_events``, bounded,
  persisted in ``agent.json``) and said in the agent's log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from uno.deployment.adapters.platforms.local import scaling
from uno.deployment.adapters.platforms.local.health import HealthMonitor
from uno.deployment.adapters.platforms.local.measuring import CpuMeter
from uno.deployment.adapters.platforms.local.replicas import ReplicaInfo
from uno.deployment.adapters.platforms.local.supervising import Supervisor, SupervisorError
from uno.deployment.adapters.platforms.local.versionsets import VersionMeta

LONGEST_PAUSE = 1.0  # a version set created meanwhile is looked at within this


class AgentState(Protocol):
    """What the autoscaler reads of the agent (see ``agent.Agent``)."""

    versions: dict[str, VersionMeta]
    weights: dict[tuple[str, str], dict[str, int]]
    removing: set[str]
    leaving: dict[str, set[int]]
    supervisor: Supervisor
    monitors: dict[str, HealthMonitor]


@dataclass(frozen=True, slots=True)
class Status:
    """The autoscaler's last word on a version set: in charge or why not, and its last measurement."""

    state: str
    utilization: float | None = None
    reason: str = ""


class Autoscaler:
    def __init__(
        self,
        agent: AgentState,
        *,
        resize: Callable[[VersionMeta, int], Awaitable[None]],
        persist: Callable[[], None],
        say: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._agent = agent
        self._resize = resize
        self._persist = persist
        self._say = say
        self._clock = clock
        self._meter = CpuMeter()
        self._due: dict[str, float] = {}
        self._in_charge_since: dict[str, float] = {}
        self._recommendations: dict[str, list[tuple[float, int]]] = {}
        self._status: dict[str, Status] = {}

    async def run_forever(self) -> None:
        while True:
            await self.round()
            await asyncio.sleep(self._pause())

    async def round(self) -> None:
        """Measure every autoscaled version set that is due, and scale the ones in charge that need it."""
        now = self._clock()
        autoscaled = {  # one being removed may have no replicas any more before it leaves ``versions``
            meta.id: meta
            for meta in self._agent.versions.values()
            if meta.autoscaling is not None and meta.id not in self._agent.removing
        }
        self._forget(autoscaled)
        for meta in autoscaled.values():
            if now >= self._due.get(meta.id, 0.0):
                policy = scaling.Policy.from_request(meta.autoscaling or {})
                self._due[meta.id] = now + policy.interval
                await self._step(meta, policy, now)

    def report(self, meta: VersionMeta) -> dict[str, Any] | None:
        """What ``list_versions`` and ``ping`` say of a version set's autoscaling; None when it has none."""
        if meta.autoscaling is None:
            return None
        policy = scaling.Policy.from_request(meta.autoscaling)
        status = self._status.get(meta.id, Status("starting"))
        return {
            "replicas_min": policy.replicas_min,
            "replicas_max": policy.replicas_max,
            "target": policy.target,
            "state": status.state,
            "utilization": None if status.utilization is None else round(status.utilization, 1),
            "reason": status.reason,
            "events": list(meta.scale_events),
        }

    async def _step(self, meta: VersionMeta, policy: scaling.Policy, now: float) -> None:
        replicas = self._replicas(meta.id)
        ready = self._ready(meta)
        used = self._meter.measure([replica.pid for replica in replicas if replica.pid is not None], now)
        samples = [  # a replica waiting to restart (no pid) is an unready one
            scaling.Sample(
                replica.pid is not None and (replica.port, replica.pid) in ready,
                None if replica.pid is None else _percent(used.get(replica.pid), policy),
            )
            for replica in replicas
        ]
        current = len(replicas)
        paused = paused_because(meta, self._agent) or ("it runs no replica (scaled to 0)" if not current else None)
        if paused is not None:  # measured all the same: the user sees what it would do
            self._in_charge_since.pop(meta.id, None)
            self._status[meta.id] = _paused(paused, current, samples, policy)
            return
        since = self._in_charge_since.setdefault(meta.id, now)
        history = self._recommendations.setdefault(meta.id, [(now, current)])  # no scale-down right after a start
        decision = scaling.decide(current, samples, policy, history, now)
        history[:] = scaling.window([*history, (now, decision.recommendation)], now, policy)
        self._status[meta.id] = Status("in charge", decision.utilization, decision.reason)
        if decision.replicas != current and now - since >= policy.interval:
            await self._scale(meta, current, decision)

    async def _scale(self, meta: VersionMeta, current: int, decision: scaling.Decision) -> None:
        try:
            await self._resize(meta, decision.replicas)
        except SupervisorError as error:  # removed meanwhile, or its program no longer starts
            self._say(f"autoscaler: {meta.id} not scaled to {decision.replicas}: {error}")
            return
        if self._agent.versions.get(meta.id) is not meta:
            return
        at = datetime.now(UTC).isoformat(timespec="seconds")
        event = scaling.Event(at, current, decision.replicas, decision.utilization, decision.reason)
        meta.scale_events = scaling.kept(meta.scale_events, event)
        self._persist()
        self._say(f"autoscaler: {meta.app} in {meta.environment}, {meta.id}: {event.describe()}")

    def _replicas(self, version_id: str) -> list[ReplicaInfo]:
        try:
            return self._agent.supervisor.replicas(version_id)
        except SupervisorError:  # stopped meanwhile: nothing to measure
            return []

    def _ready(self, meta: VersionMeta) -> set[tuple[int, int | None]]:
        monitor = self._agent.monitors.get(meta.id)
        health = monitor.health(meta.id) if monitor is not None else []
        return {(replica.port, replica.pid) for replica in health if replica.ready}

    def _forget(self, autoscaled: Mapping[str, VersionMeta]) -> None:
        for table in (self._due, self._in_charge_since, self._recommendations, self._status):
            for version_id in [name for name in table if name not in autoscaled]:
                del table[version_id]
        running = (self._replicas(version_id) for version_id in autoscaled)
        self._meter.forget(replica.pid for replicas in running for replica in replicas if replica.pid is not None)

    def _pause(self) -> float:
        now = self._clock()
        return min([LONGEST_PAUSE, *(max(0.0, due - now) for due in self._due.values())])


def paused_because(meta: VersionMeta, agent: AgentState) -> str | None:
    """Why ``meta`` is not the autoscaler's to scale now, or None when it is (see the module docstring)."""
    if meta.id in agent.removing:
        return "being removed"
    if meta.retire_at is not None:
        return "retiring (a previous release kept for its rollback window)"
    if meta.id in agent.leaving:
        return "a scale-down is under way"
    weights = agent.weights.get((meta.app, meta.environment), {})
    weight = weights.get(meta.id, 0)
    if weight != 100:
        return f"it takes {weight}% of the traffic, not 100%: a rollout is under way or it is not live"
    busy = [other.id for other in _siblings(meta, agent.versions.values()) if not _settled(other, weights, agent)]
    if busy:
        return f"a rollout is under way ({', '.join(sorted(busy))} runs beside it)"
    return None


def _siblings(meta: VersionMeta, versions: Iterable[VersionMeta]) -> list[VersionMeta]:
    key = (meta.app, meta.environment)
    return [other for other in versions if (other.app, other.environment) == key and other.id != meta.id]


def _settled(other: VersionMeta, weights: Mapping[str, int], agent: AgentState) -> bool:
    """A version set no rollout uses: being removed, or at 0 % until its rollback window ends."""
    return other.id in agent.removing or (weights.get(other.id, 0) == 0 and other.retire_at is not None)


def _paused(why: str, current: int, samples: list[scaling.Sample], policy: scaling.Policy) -> Status:
    recommended, average, reason = scaling.recommend(current, samples, policy)
    wanted = min(max(recommended, policy.replicas_min), policy.replicas_max)
    return Status(f"paused: {why}", average, reason if wanted == current else f"{reason}; {wanted} wanted")


def _percent(cores: float | None, policy: scaling.Policy) -> float | None:
    return None if cores is None else 100.0 * cores / policy.cpu_request
