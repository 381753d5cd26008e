"""Canary analysis: is the canary as good as the stable version, by the numbers?

Pure judgement over two windows of traffic statistics. The canary fails when its error
rate passes the absolute limit or exceeds the stable version's by more than the allowed
increase, or when its p99 latency passes the stable p99 times the allowed ratio and by
more than a slack in milliseconds (a few milliseconds of jitter is not a regression). With too
few requests to judge, the step passes and says so (low-traffic environments must still
be able to deploy).
"""

from __future__ import annotations

from dataclasses import dataclass

from uno.deployment.ports.platforms import TrafficStats
from uno.deployment.strategies.tuning import CanaryTuning


@dataclass(frozen=True, slots=True)
class Verdict:
    passed: bool
    reasons: tuple[str, ...]

    @property
    def summary(self) -> str:
        return "; ".join(self.reasons)


def judge(canary: TrafficStats, stable: TrafficStats | None, tuning: CanaryTuning) -> Verdict:
    if canary.requests < tuning.min_requests:
        return Verdict(True, (f"only {canary.requests} request(s) to the canary: too few to judge",))
    problems = []
    if canary.error_rate > tuning.max_error_rate:
        problems.append(f"error rate {canary.error_rate:.1%} above {tuning.max_error_rate:.1%}")
    if (
        stable is not None
        and stable.requests
        and canary.error_rate > stable.error_rate + tuning.max_error_rate_increase
    ):
        problems.append(f"error rate {canary.error_rate:.1%} against {stable.error_rate:.1%} for the stable version")
    if stable is not None and canary.p99_ms is not None and stable.p99_ms:
        limit = max(stable.p99_ms * tuning.max_p99_ratio, stable.p99_ms + tuning.p99_slack_ms)
        if canary.p99_ms > limit:
            problems.append(f"p99 latency {canary.p99_ms:.0f} ms above {limit:.0f} ms")
    if problems:
        return Verdict(False, tuple(problems))
    return Verdict(True, (f"error rate {canary.error_rate:.1%} over {canary.requests} request(s)",))
