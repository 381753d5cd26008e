"""Actions that wait for the world: an HTTP endpoint to be healthy, a person to decide.

Both wait on the engine's clock (so tests move time instead of sleeping) and both end
before their task's deadline with a message that says what they last saw, rather than
being cut off by the timeout with nothing to show.
"""

from __future__ import annotations

import math
from typing import Any

from uno.deployment.engine.actions import ActionContext, ActionOutcome

DEFAULT_INTERVAL = 1.0
MAX_INTERVAL = 3600.0


def _number(value: Any, low: float, high: float) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and not math.isnan(value)
        and low <= value <= high
    )


def _statuses(expected: Any) -> set[int] | None:
    values = expected if isinstance(expected, list) else [expected]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599 for v in values):
        return None
    return set(values)


def _deadline(context: ActionContext, interval: float, requested: Any) -> float:
    """When to stop waiting: the requested deadline, else just before the task's own timeout."""
    budget = float(requested) if requested is not None else max(0.0, context.task.timeout - min(interval, 1.0))
    return context.clock.monotonic() + budget


class HttpCheckAction:
    """Probe ``url`` until it answers as expected or the deadline passes.

    Params: ``url`` (http or https), ``method`` (GET or HEAD), ``expected_status`` (a code or
    a list, default 200), ``body_contains``, ``headers``, ``interval`` (seconds between
    probes, default 1), ``request_timeout`` (default 5), ``deadline`` (seconds, default:
    just before the task's timeout).
    """

    kind = "http_check"
    free_form = True  # its author picks the URL the server requests: a way into the server's network

    idempotent = True
    _KNOWN = frozenset(
        {"url", "method", "expected_status", "body_contains", "headers", "interval", "request_timeout", "deadline"}
    )

    def check(self, params: dict[str, Any]) -> str | None:
        problems = [
            (set(params) - self._KNOWN, f"unknown parameter(s): {', '.join(sorted(set(params) - self._KNOWN))}"),
            (
                not isinstance(params.get("url"), str) or not params["url"].startswith(("http://", "https://")),
                "needs 'url': an http:// or https:// address",
            ),
            (params.get("method", "GET") not in ("GET", "HEAD"), "'method' must be GET or HEAD"),
            (_statuses(params.get("expected_status", 200)) is None, "'expected_status' must be HTTP codes (100-599)"),
            (
                "body_contains" in params and not isinstance(params["body_contains"], str),
                "'body_contains' must be text",
            ),
            (
                "headers" in params
                and not (
                    isinstance(params["headers"], dict)
                    and all(isinstance(k, str) and isinstance(v, str) for k, v in params["headers"].items())
                ),
                "'headers' must map names to text",
            ),
            (not _number(params.get("interval", DEFAULT_INTERVAL), 0.01, MAX_INTERVAL), "'interval' must be 0.01-3600"),
            (not _number(params.get("request_timeout", 5), 0.01, 600), "'request_timeout' must be 0.01-600 seconds"),
            ("deadline" in params and not _number(params["deadline"], 0, 7 * 86400), "'deadline' must be >= 0 seconds"),
        ]
        return next((message for broken, message in problems if broken), None)

    async def run(self, context: ActionContext) -> ActionOutcome:
        params = context.params
        interval = float(params.get("interval", DEFAULT_INTERVAL))
        expected = _statuses(params.get("expected_status", 200)) or {200}
        deadline = _deadline(context, interval, params.get("deadline"))
        probes, last = 0, "no answer yet"
        while True:
            response = await context.tools.http.probe(
                params["url"],
                method=params.get("method", "GET"),
                headers=params.get("headers"),
                timeout=float(params.get("request_timeout", 5)),
            )
            probes += 1
            if response.status in expected and params.get("body_contains", "") in response.body_head:
                return ActionOutcome.ok(
                    f"{params['url']} answered {response.status}",
                    probes=probes,
                    status=response.status,
                    elapsed=round(response.elapsed, 3),
                )
            last = _described(response, expected, params.get("body_contains"))
            if context.clock.monotonic() + interval > deadline:
                return ActionOutcome.failed(
                    f"{params['url']} not healthy after {probes} probe(s): {last}",
                    probes=probes,
                    status=response.status,
                )
            await context.clock.sleep(interval)


def _described(response: Any, expected: set[int], body_contains: str | None) -> str:
    if response.status is None:
        return f"no answer ({response.error})"
    if response.status not in expected:
        return f"got {response.status}, expected {', '.join(map(str, sorted(expected)))}"
    return f"the body does not contain {body_contains!r}"


class ApprovalAction:
    """A manual gate: wait until someone approves or rejects it, or its deadline passes.

    Params: ``deadline`` (seconds, default: just before the task's timeout), ``on_timeout``
    (``"reject"``, the default, or ``"approve"``), ``poll_interval`` (default 1), ``prompt``
    (what the approver is asked). Decisions come through ``PipelineService.approve`` and
    ``reject``, from any process sharing the store.
    """

    kind = "approval"
    free_form = False

    idempotent = True
    _KNOWN = frozenset({"deadline", "on_timeout", "poll_interval", "prompt"})

    def check(self, params: dict[str, Any]) -> str | None:
        if set(params) - self._KNOWN:
            return f"unknown parameter(s): {', '.join(sorted(set(params) - self._KNOWN))}"
        if params.get("on_timeout", "reject") not in ("reject", "approve"):
            return "'on_timeout' must be 'reject' or 'approve'"
        if "deadline" in params and not _number(params["deadline"], 0, 30 * 86400):
            return "'deadline' must be a number of seconds >= 0"
        if not _number(params.get("poll_interval", DEFAULT_INTERVAL), 0.01, MAX_INTERVAL):
            return "'poll_interval' must be 0.01-3600 seconds"
        if "prompt" in params and not isinstance(params["prompt"], str):
            return "'prompt' must be text"
        return None

    async def run(self, context: ActionContext) -> ActionOutcome:
        interval = float(context.params.get("poll_interval", DEFAULT_INTERVAL))
        deadline = _deadline(context, interval, context.params.get("deadline"))
        while True:
            decision = await context.tools.decisions.get(context.pipeline.id, context.task.id)
            if decision is not None:
                verdict = "approved" if decision.approved else "rejected"
                note = f": {decision.comment}" if decision.comment else ""
                outputs = {"decided_by": decision.by, "decision": verdict, "comment": decision.comment}
                message = f"{verdict} by {decision.by}{note}"
                return (
                    ActionOutcome.ok(message, **outputs)
                    if decision.approved
                    else ActionOutcome.failed(message, **outputs)
                )
            if context.clock.monotonic() + interval > deadline:
                return _timed_out(context.params.get("on_timeout", "reject"))
            await context.clock.sleep(interval)


def _timed_out(on_timeout: str) -> ActionOutcome:
    if on_timeout == "approve":
        return ActionOutcome.ok("no decision before the deadline: approved by its on_timeout rule", decision="timeout")
    return ActionOutcome.failed("no decision before the deadline: rejected by its on_timeout rule", decision="timeout")
