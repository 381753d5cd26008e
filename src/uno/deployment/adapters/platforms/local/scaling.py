"""How many replicas a version set wants, from its replicas' CPU: the Kubernetes HPA's algorithm, pure.

Why the HPA's rules rather than our own: users who set ``resources.auto_scaling`` know
what a HorizontalPodAutoscaler does with ``replicas_min``, ``replicas_max`` and a CPU
target, so the ``local`` platform does the same, with the same defaults:

- utilization is CPU used per replica in percent of its CPU request
  (``resources.cpu_min``), averaged over the ready replicas that were measured;
- ``desired = ceil(measured_replicas * utilization / target)``, unchanged while
  ``|utilization / target - 1| <= 10 %`` (the tolerance);
- when scaling up, replicas not ready yet count as using nothing, and ready ones not
  measured yet as using nothing; when scaling down, unmeasured ready ones count as at the
  target: a decision never leans on replicas it cannot see (the HPA's "missing metrics");
- a scale-up grows by at most ``max(2 * current, 4)`` replicas at a time;
- a scale-down takes the highest recommendation of the last ``stabilization`` seconds
  (default 300 s): a short dip never drops capacity;
- the result is always within ``replicas_min .. replicas_max``.

Invariants: no I/O, no clock (the caller passes ``now``); the same inputs give the same
``Decision``. ``Policy`` travels from the driver to the agent as a JSON object
(``wire`` / ``as_request``) and is kept in ``agent.json``; ``Event`` is what the agent
records of each scale (bounded to ``EVENTS_KEPT`` per version set).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from uno.deployment.domain import quantities
from uno.deployment.domain.configs import DeploymentConfig

TOLERANCE = 0.1
EVENTS_KEPT = 20
DEFAULT_INTERVAL = 15.0
DEFAULT_STABILIZATION = 300.0


@dataclass(frozen=True, slots=True)
class Policy:
    """What a version set's configuration asked for: its bounds, CPU target and pacing."""

    replicas_min: int
    replicas_max: int
    target: int  # percent of the CPU request (resources.auto_scaling_cpu_threshold)
    cpu_request: float  # cores (resources.cpu_min)
    interval: float = DEFAULT_INTERVAL  # seconds between measurements
    stabilization: float = DEFAULT_STABILIZATION  # seconds a scale-down waits for the highest recommendation

    @classmethod
    def from_request(cls, data: Mapping[str, Any]) -> Policy:
        return cls(
            int(data["replicas_min"]),
            int(data["replicas_max"]),
            int(data["target"]),
            float(data["cpu_request"]),
            float(data.get("interval", DEFAULT_INTERVAL)),
            float(data.get("stabilization", DEFAULT_STABILIZATION)),
        )

    def as_request(self) -> dict[str, Any]:
        return asdict(self)


def policy_for(config: DeploymentConfig, interval: float, stabilization: float) -> Policy | None:
    """The autoscaling ``config`` asks for, or None when ``resources.auto_scaling`` is off."""
    resources = config.resources
    if not resources.auto_scaling:
        return None
    request = float(quantities.parse_cpu(resources.cpu_min))
    return Policy(
        resources.replicas_min,
        resources.replicas_max,
        resources.auto_scaling_cpu_threshold,
        request,
        interval,
        stabilization,
    )


@dataclass(frozen=True, slots=True)
class Sample:
    """One replica at one measurement: is it ready, and its CPU in percent of the request (None: not measured)."""

    ready: bool
    utilization: float | None


@dataclass(frozen=True, slots=True)
class Decision:
    replicas: int  # what the version set should run now
    recommendation: int  # the unstabilized recommendation, to remember for later scale-downs
    utilization: float | None  # the average over the measured ready replicas, percent of the request
    reason: str


def recommend(current: int, samples: Sequence[Sample], policy: Policy) -> tuple[int, float | None, str]:
    """The HPA's replica count for these samples, before bounds and stabilization; with the average and why."""
    measured = [sample.utilization for sample in samples if sample.ready and sample.utilization is not None]
    if not measured:
        return current, None, "no ready replica measured yet"
    average = sum(measured) / len(measured)
    ratio = average / policy.target
    missing = sum(1 for sample in samples if sample.ready and sample.utilization is None)
    unready = sum(1 for sample in samples if not sample.ready)
    said = f"CPU {average:.0f}% of request, target {policy.target}%"
    if abs(ratio - 1) <= TOLERANCE:
        return current, average, f"{said}: within tolerance"
    if not missing and not unready:
        return math.ceil(ratio * len(measured)), average, said
    return _with_unseen(current, measured, missing, unready, policy), average, said


def _with_unseen(current: int, measured: list[float], missing: int, unready: int, policy: Policy) -> int:
    """Replicas without a measurement: counted at 0 % when scaling up, at the target when scaling down."""
    scaling_up = sum(measured) / len(measured) > policy.target
    assumed = [0.0] * (missing + unready) if scaling_up else [float(policy.target)] * missing
    counted = measured + assumed
    new_ratio = (sum(counted) / len(counted)) / policy.target
    if abs(new_ratio - 1) <= TOLERANCE or (new_ratio > 1) != scaling_up:
        return current  # counting the unmeasured replicas, there is nothing to do
    wanted = math.ceil(new_ratio * len(counted))
    return wanted if (wanted > current) == scaling_up else current


def decide(
    current: int,
    samples: Sequence[Sample],
    policy: Policy,
    recommendations: Iterable[tuple[float, int]],
    now: float,
) -> Decision:
    """What ``current`` replicas become, given earlier ``(time, recommendation)`` pairs for stabilization."""
    recommended, average, reason = recommend(current, samples, policy)
    wanted, ceiling = recommended, policy.replicas_max
    if recommended < current:  # scale down only as far as the highest recommendation in the window
        wanted = min(max([recommended, *window_values(recommendations, now, policy)]), current)
    if recommended > current:
        ceiling = min(ceiling, max(2 * current, 4))
    bounded = max(min(wanted, ceiling), policy.replicas_min)
    if bounded < wanted:
        cap = "replicas_max" if bounded == policy.replicas_max else "twice as many, or 4, at a time"
        reason = f"{reason}; at most {bounded} ({cap})"
    elif bounded > max(recommended, policy.replicas_min):
        reason = f"{reason}; held at {bounded} by the last {policy.stabilization:g}s"
    elif bounded > recommended:
        reason = f"{reason}; at least {bounded} (replicas_min)"
    return Decision(bounded, recommended, average, reason)


def window_values(recommendations: Iterable[tuple[float, int]], now: float, policy: Policy) -> list[int]:
    return [value for _, value in window(recommendations, now, policy)]


def window(recommendations: Iterable[tuple[float, int]], now: float, policy: Policy) -> list[tuple[float, int]]:
    """The recommendations still inside the stabilization window (what to keep)."""
    return [(at, value) for at, value in recommendations if now - at <= policy.stabilization]


@dataclass(frozen=True, slots=True)
class Event:
    """A scale the autoscaler made: when (ISO 8601, UTC), from how many to how many, at what CPU, why."""

    at: str
    replicas_from: int
    replicas_to: int
    utilization: float | None
    reason: str

    def describe(self) -> str:
        return f"{self.replicas_from} -> {self.replicas_to} replicas ({self.reason})"


def kept(events: Sequence[dict[str, Any]], event: Event) -> list[dict[str, Any]]:
    """The recorded events with ``event`` added, the oldest dropped past ``EVENTS_KEPT``."""
    return [*events, asdict(event)][-EVENTS_KEPT:]
