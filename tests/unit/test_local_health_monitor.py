"""The health monitor's judgement on a fake clock, with scripted probes: thresholds, restarts, waiting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from uno.deployment.adapters.clocks import FakeClock
from uno.deployment.adapters.platforms.local.health import HealthMonitor, ProbeResult, Readiness
from uno.deployment.adapters.platforms.local.replicas import ReplicaInfo, ReplicaState, RestartPolicy


class FakeSource:
    """Version sets as the test declares them; replicas are ``(index, pid)``, each on port 9000 + index."""

    def __init__(self) -> None:
        self.sets: dict[str, list[ReplicaInfo]] = {}

    def set(self, version_id: str, *replicas: tuple[int, int | None]) -> None:
        self.sets[version_id] = [
            ReplicaInfo(index, pid, 9000 + index, None, 0, ReplicaState.RUNNING) for index, pid in replicas
        ]

    def replicas(self, version_id: str) -> list[ReplicaInfo]:
        if version_id not in self.sets:
            raise LookupError(version_id)
        return self.sets[version_id]


class ScriptedProbe:
    """Answers 200 unless the test marked the port failing; records every probed port."""

    def __init__(self) -> None:
        self.failing: set[int] = set()
        self.probed: list[int] = []

    async def __call__(self, host: str, port: int, path: str, timeout: float) -> ProbeResult:
        self.probed.append(port)
        if port in self.failing:
            return ProbeResult(False, 500, "HTTP 500", 0.0)
        return ProbeResult(True, 200, None, 0.0)


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def probe() -> ScriptedProbe:
    return ScriptedProbe()


@pytest.fixture
async def monitor(source: FakeSource, probe: ScriptedProbe, fake_clock: FakeClock) -> AsyncIterator[HealthMonitor]:
    monitor = HealthMonitor(source, clock=fake_clock, probe=probe, healthy_threshold=2, unhealthy_threshold=3)
    yield monitor
    await monitor.close()


async def asleep(clock: FakeClock, watches: int = 1) -> None:
    """Let the monitor run until each watch's probing task sleeps until its next interval."""
    for _ in range(1000):
        if clock.sleepers == watches:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{watches - clock.sleepers} of {watches} watches never went back to sleep")


async def rounds(clock: FakeClock, count: int, watches: int = 1) -> None:
    for _ in range(count):
        clock.advance(1.0)
        await asleep(clock, watches)


def readiness(monitor: HealthMonitor, version_id: str = "v1") -> list[tuple[Readiness, int, int]]:
    return [(replica.readiness, replica.successes, replica.failures) for replica in monitor.health(version_id)]


async def test_ready_after_the_healthy_threshold_and_not_after_the_unhealthy_one(
    monitor: HealthMonitor, source: FakeSource, probe: ScriptedProbe, fake_clock: FakeClock
):
    source.set("v1", (0, 100))
    monitor.watch("v1")
    await asleep(fake_clock)
    assert readiness(monitor) == [(Readiness.UNKNOWN, 1, 0)]
    await rounds(fake_clock, 1)
    assert readiness(monitor) == [(Readiness.HEALTHY, 2, 0)]

    probe.failing.add(9000)
    seen = []
    for _ in range(3):
        await rounds(fake_clock, 1)
        seen.append((readiness(monitor)[0], monitor.ready_count("v1")))

    assert seen == [((Readiness.HEALTHY, 0, 1), 1), ((Readiness.HEALTHY, 0, 2), 1), ((Readiness.UNHEALTHY, 0, 3), 0)]
    probe.failing.clear()
    await rounds(fake_clock, 1)
    assert readiness(monitor) == [(Readiness.UNHEALTHY, 1, 0)]
    await rounds(fake_clock, 1)
    assert readiness(monitor) == [(Readiness.HEALTHY, 2, 0)]


async def test_a_replica_never_healthy_is_unknown_until_the_failures_reach_the_threshold(
    monitor: HealthMonitor, source: FakeSource, probe: ScriptedProbe, fake_clock: FakeClock
):
    source.set("v1", (0, 100))
    probe.failing.add(9000)
    monitor.watch("v1")
    await asleep(fake_clock)
    await rounds(fake_clock, 1)
    assert readiness(monitor) == [(Readiness.UNKNOWN, 0, 2)]
    await rounds(fake_clock, 1)
    assert readiness(monitor) == [(Readiness.UNHEALTHY, 0, 3)]
    assert probe.probed.count(9000) == 3  # once at once, then once per interval


async def test_a_restarted_replica_starts_over_and_a_stopped_one_is_unhealthy_without_a_probe(
    monitor: HealthMonitor, source: FakeSource, probe: ScriptedProbe, fake_clock: FakeClock
):
    source.set("v1", (0, 100), (1, 101))
    monitor.watch("v1")
    await asleep(fake_clock)
    await rounds(fake_clock, 1)
    assert monitor.is_healthy("v1")

    source.set("v1", (0, 200), (1, None))
    probe.probed.clear()
    await rounds(fake_clock, 1)

    assert readiness(monitor) == [(Readiness.UNKNOWN, 1, 0), (Readiness.UNHEALTHY, 0, 1)]
    assert probe.probed == [9000]
    assert not monitor.is_healthy("v1")


async def test_replicas_added_or_removed_are_followed(
    monitor: HealthMonitor, source: FakeSource, fake_clock: FakeClock
):
    source.set("v1", (0, 100))
    monitor.watch("v1")
    await asleep(fake_clock)
    await rounds(fake_clock, 1)

    source.set("v1", (0, 100), (1, 101))
    await rounds(fake_clock, 1)
    assert [(replica.index, replica.ready) for replica in monitor.health("v1")] == [(0, True), (1, False)]
    source.set("v1")
    await rounds(fake_clock, 1)
    assert (monitor.health("v1"), monitor.is_healthy("v1")) == ([], False)  # no replicas is not healthy


async def test_wait_healthy_returns_after_the_first_good_round_without_the_clock_moving(
    source: FakeSource, probe: ScriptedProbe, fake_clock: FakeClock
):
    source.set("v1", (0, 100), (1, 101))
    monitor = HealthMonitor(source, clock=fake_clock, probe=probe)
    try:
        assert await monitor.wait_healthy("v1", deadline=fake_clock.monotonic() + 30)
        assert monitor.ready_count("v1") == 2
        assert fake_clock.monotonic() == 0
    finally:
        await monitor.close()


async def test_wait_healthy_wakes_on_the_round_that_makes_it_healthy_or_fails_at_the_deadline(
    monitor: HealthMonitor, source: FakeSource, probe: ScriptedProbe, fake_clock: FakeClock
):
    source.set("v1", (0, 100))
    source.set("v2", (0, 100))
    monitor.watch("v2")
    waiting = asyncio.create_task(monitor.wait_healthy("v1", deadline=10.0))
    await asleep(fake_clock, watches=2)
    assert not waiting.done()  # one success of the two it takes
    await rounds(fake_clock, 1, watches=2)
    assert await waiting

    probe.failing.add(9000)
    await rounds(fake_clock, 3, watches=2)
    never = asyncio.create_task(monitor.wait_healthy("v2", deadline=fake_clock.monotonic() + 2.5))
    await rounds(fake_clock, 2, watches=2)
    assert not never.done()
    fake_clock.advance(0.5)
    assert await never is False


async def test_unknown_or_unwatched_version_sets_are_not_healthy(monitor: HealthMonitor, fake_clock: FakeClock):
    assert (monitor.health("nope"), monitor.ready_count("nope"), monitor.is_healthy("nope")) == ([], 0, False)
    assert await monitor.wait_healthy("nope", deadline=fake_clock.monotonic()) is False
    await monitor.unwatch("nope")
    assert monitor.health("nope") == []


async def test_a_malformed_path_is_refused_when_watching(monitor: HealthMonitor):
    with pytest.raises(ValueError, match="health path"):
        monitor.watch("v1", path="health check")


def test_the_restart_policy_doubles_up_to_its_maximum():
    policy = RestartPolicy(initial=0.5, factor=2.0, maximum=30.0)

    assert [policy.delay(crashes) for crashes in range(9)] == [0, 0.5, 1, 2, 4, 8, 16, 30, 30]
    assert policy.delay(10_000) == 30
    with pytest.raises(ValueError, match="restart policy"):
        RestartPolicy(initial=2.0, maximum=1.0)


async def test_a_starting_replica_is_probed_early_and_found_ready_between_rounds(
    source: FakeSource, probe: ScriptedProbe, fake_clock: FakeClock
):
    monitor = HealthMonitor(source, clock=fake_clock, probe=probe, healthy_threshold=1, unhealthy_threshold=3)
    source.set("v1", (0, 100))
    probe.failing.add(9000)  # the process is still starting: connection refused, say
    monitor.watch("v1")
    await asleep(fake_clock)
    early = []
    for step in (0.02, 0.04, 0.08):  # 20 ms, then twice as long each time: all within the 1 s interval
        fake_clock.advance(step)
        await asleep(fake_clock)
        early.append(len(probe.probed))
    assert early == [2, 3, 4]
    assert readiness(monitor) == [(Readiness.UNKNOWN, 0, 1)]  # failures while starting are not counted

    probe.failing.clear()  # it answers now
    fake_clock.advance(0.16)
    await asleep(fake_clock)

    assert readiness(monitor) == [(Readiness.HEALTHY, 1, 0)]  # 0.3 s after the start, not at the next round
    probed = len(probe.probed)
    fake_clock.advance(0.32)
    await asleep(fake_clock)
    assert len(probe.probed) == probed  # once it has passed, only the regular rounds probe it
    await monitor.close()


async def test_an_early_pass_still_needs_the_healthy_threshold(
    monitor: HealthMonitor, source: FakeSource, probe: ScriptedProbe, fake_clock: FakeClock
):
    source.set("v1", (0, 100))
    probe.failing.add(9000)
    monitor.watch("v1")
    await asleep(fake_clock)
    probe.failing.clear()
    fake_clock.advance(0.02)
    await asleep(fake_clock)
    assert readiness(monitor) == [(Readiness.UNKNOWN, 1, 0)]  # threshold 2: one pass is not enough

    fake_clock.advance(0.98)  # the next regular round
    await asleep(fake_clock)
    assert readiness(monitor) == [(Readiness.HEALTHY, 2, 0)]


async def test_a_replica_slow_to_start_is_probed_early_less_and_less_then_only_in_rounds(
    source: FakeSource, probe: ScriptedProbe, fake_clock: FakeClock
):
    monitor = HealthMonitor(source, clock=fake_clock, probe=probe, healthy_threshold=1, unhealthy_threshold=3)
    source.set("v1", (0, 100))
    probe.failing.add(9000)
    monitor.watch("v1")
    await asleep(fake_clock)
    per_second = []
    for _ in range(4):
        probed = len(probe.probed)
        for _ in range(100):
            fake_clock.advance(0.01)
            await asleep(fake_clock)
        per_second.append(len(probe.probed) - probed)
    assert per_second[0] > per_second[-1] == 1  # the early probes die out; the round stays

    source.set("v1", (0, 101))  # restarted: a new process, probed early again
    probed = len(probe.probed)
    for _ in range(100):
        fake_clock.advance(0.01)
        await asleep(fake_clock)
    assert len(probe.probed) - probed > 1
    await monitor.close()


async def test_on_change_is_told_when_readiness_changes_and_only_then(
    source: FakeSource, probe: ScriptedProbe, fake_clock: FakeClock
):
    changes: list[list[Readiness]] = []
    monitor = HealthMonitor(
        source,
        clock=fake_clock,
        probe=probe,
        healthy_threshold=1,
        unhealthy_threshold=1,
        on_change=lambda: changes.append([replica.readiness for replica in monitor.health("v1")]),
    )
    source.set("v1", (0, 100))
    monitor.watch("v1")
    await asleep(fake_clock)
    assert changes == [[Readiness.HEALTHY]]

    await rounds(fake_clock, 2)
    assert changes == [[Readiness.HEALTHY]]  # still ready: nothing to tell

    probe.failing.add(9000)
    await rounds(fake_clock, 1)
    assert changes == [[Readiness.HEALTHY], [Readiness.UNHEALTHY]]
    await monitor.close()
