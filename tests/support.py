"""Test doubles shared by the tests."""

from __future__ import annotations

import asyncio
from typing import Any

from uno.deployment.engine.actions import ActionContext, ActionOutcome


class ScriptedAction:
    """An action whose behaviour each task chooses with its params.

    ``{"outcome": "ok" | "fail" | "hang" | "raise" | "block", "fail_times": n}``: "block"
    waits until the test calls ``release(name)``; ``"report": "..."`` reports that progress
    first. Every start is recorded in ``started``.
    """

    kind = "scripted"
    free_form = False  # its params pick among behaviours written here, never a program

    def __init__(self) -> None:
        self.idempotent = True
        self.started: list[str] = []
        self.running: set[str] = set()
        self.peak = 0
        self._gates: dict[str, asyncio.Event] = {}
        self._failures: dict[str, int] = {}

    def check(self, params: dict[str, Any]) -> str | None:
        if params.get("outcome", "ok") not in {"ok", "fail", "hang", "raise", "block"}:
            return "outcome must be ok, fail, hang, raise or block"
        return None

    def gate(self, name: str) -> asyncio.Event:
        return self._gates.setdefault(name, asyncio.Event())

    def release(self, name: str) -> None:
        self.gate(name).set()

    async def run(self, context: ActionContext) -> ActionOutcome:
        name, params = context.task.name, context.params
        self.started.append(name)
        self.running.add(name)
        self.peak = max(self.peak, len(self.running))
        if "report" in params:
            await context.report(params["report"], reported=params["report"])
        try:
            return await self._behave(name, params)
        finally:
            self.running.discard(name)

    async def _behave(self, name: str, params: dict[str, Any]) -> ActionOutcome:
        outcome = params.get("outcome", "ok")
        if params.get("fail_times", 0) > self._failures.get(name, 0):
            self._failures[name] = self._failures.get(name, 0) + 1
            return ActionOutcome.failed(f"{name} failed on purpose")
        if outcome == "fail":
            return ActionOutcome.failed(f"{name} failed on purpose")
        if outcome == "raise":
            raise RuntimeError(f"{name} has a bug")
        if outcome == "hang":
            await asyncio.Event().wait()
        if outcome == "block":
            await self.gate(name).wait()
        return ActionOutcome.ok(f"{name} done", task=name)


async def eventually(predicate: Any, *, timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it is true, failing after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)


class PlatformStep:
    """A stand-in for a platform step (deploy, verify, health_check, rollback) in service tests.

    It records each call with the release it was asked for and fails when the test says so:
    ``failing`` holds a kind ("verify") or a kind for one version ("verify@2.0.0").
    """

    free_form = False

    def __init__(self, kind: str, calls: list[tuple[str, str]], failing: set[str]) -> None:
        self.kind = kind
        self._calls = calls
        self._failing = failing

    def check(self, params: dict[str, Any]) -> str | None:
        return None

    async def run(self, context: ActionContext) -> ActionOutcome:
        version = context.config.app_version if context.config else "?"
        self._calls.append((self.kind, version))
        if self.kind in self._failing or f"{self.kind}@{version}" in self._failing:
            return ActionOutcome.failed(f"{self.kind} failed for {version}")
        return ActionOutcome.ok(f"{self.kind} {version}")
