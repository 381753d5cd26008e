"""How ``uno-deploy agent`` shows the local platform's autoscaling: each version set's bounds and scales.

The agent's ``ping`` lists every version set with ``resources.auto_scaling`` on, with what
its autoscaler last measured and decided and the scales it made (newest last); this turns
one of them into plain lines, the last ``SHOWN`` scales only.
"""

from __future__ import annotations

from typing import Any

SHOWN = 5


def lines(version: dict[str, Any]) -> list[str]:
    scaling = version.get("autoscaling") or {}
    reason = f": {scaling['reason']}" if scaling.get("reason") else ""
    shown = [
        f"autoscaling {version['app']} in {version['environment']} ({version['id']}): {version['replicas']} replica(s)"
        f" of {scaling.get('replicas_min')}..{scaling.get('replicas_max')}, target {scaling.get('target')}%;"
        f" {scaling.get('state')}{reason}",
    ]
    events = list(scaling.get("events") or [])
    shown.extend(f"  scaled {_event(event)}" for event in events[-SHOWN:])
    if not events:
        shown.append("  not scaled yet")
    return shown


def _event(event: dict[str, Any]) -> str:
    return f"{event['at']}: {event['replicas_from']} -> {event['replicas_to']} ({event['reason']})"
