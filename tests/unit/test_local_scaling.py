"""The local autoscaler's decisions: the Kubernetes HPA's algorithm, with its tolerance, bounds and stabilization.

And when it may act at all: only on the version set taking all of its application's
traffic with no rollout under way (a strategy owns the replica counts during one).
"""

from __future__ import annotations

from dataclasses import asdict
from types import SimpleNamespace

import pytest

from tests.contract.test_repositories import T0
from uno.deployment.adapters.platforms.local import autoscaling, measuring, options, scaling
from uno.deployment.adapters.platforms.local.scaling import Policy, Sample
from uno.deployment.adapters.platforms.local.versionsets import VersionMeta
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import new_config_id
from uno.deployment.entrypoints.cli import autoscaling as cli_autoscaling

POLICY = Policy(replicas_min=1, replicas_max=10, target=50, cpu_request=0.1, interval=15, stabilization=300)


def at(*utilizations: float | None, unready: int = 0) -> list[Sample]:
    return [Sample(True, value) for value in utilizations] + [Sample(False, None)] * unready


def decide(current: int, samples: list[Sample], history=(), now: float = 1000.0, policy: Policy = POLICY):
    return scaling.decide(current, samples, policy, list(history), now)


def test_a_replica_over_its_target_scales_up_in_proportion():
    decision = decide(2, at(100, 80))  # average 90 % against 50 %: ceil(2 * 1.8)

    assert decision.replicas == 4
    assert decision.utilization == 90
    assert decision.reason == "CPU 90% of request, target 50%"


@pytest.mark.parametrize("utilization", [45.1, 50, 54.9])
def test_within_ten_percent_of_the_target_nothing_changes(utilization: float):
    decision = decide(3, at(utilization, utilization, utilization))

    assert decision.replicas == 3
    assert decision.reason.endswith("within tolerance")


def test_just_past_the_tolerance_it_scales():
    assert decide(10, at(*[56.0] * 10)).replicas == 10  # ceil(10 * 1.12) = 12, but replicas_max is 10
    assert decide(5, at(*[56.0] * 5)).replicas == 6


def test_the_bounds_hold_both_ways():
    assert decide(3, at(1000, 1000, 1000)).replicas == 6  # at most max(2 * 3, 4) at a time
    assert decide(6, at(*[1000.0] * 6)).replicas == 10
    idle = decide(3, at(0, 0, 0))
    assert idle.replicas == 1
    assert idle.recommendation == 0
    assert idle.reason == "CPU 0% of request, target 50%; at least 1 (replicas_min)"
    assert (
        decide(2, at(1000, 1000)).reason
        == "CPU 1000% of request, target 50%; at most 4 (twice as many, or 4, at a time)"
    )
    assert decide(6, at(*[1000.0] * 6)).reason.endswith("; at most 10 (replicas_max)")


def test_a_scale_down_waits_for_the_highest_recommendation_of_the_window():
    history = [(800.0, 4), (900.0, 3)]  # 200 s and 100 s ago

    held = decide(4, at(10, 10, 10, 10), history)

    assert held.replicas == 4
    assert held.recommendation == 1
    assert held.reason == "CPU 10% of request, target 50%; held at 4 by the last 300s"
    later = decide(4, at(10, 10, 10, 10), history, now=1150.0)  # the 4 is 350 s old, the 3 only 250 s
    assert later.replicas == 3
    assert decide(4, at(10, 10, 10, 10), history, now=1250.0).replicas == 1


def test_a_scale_up_is_never_held_by_the_window():
    assert decide(1, at(200), [(999.0, 1)]).replicas == 4


def test_unready_replicas_count_as_idle_when_scaling_up():
    # two ready at 100 %, one starting: (100 + 100 + 0) / 3 = 66.7 % -> ceil(3 * 1.33) = 4, not ceil(2 * 2) + 1 = 5
    assert decide(3, at(100, 100, unready=1)).replicas == 4
    # one ready at 60 %, two starting: 20 % on average counting them: no scale-up on their account
    assert decide(3, at(60, unready=2)).replicas == 3


def test_unmeasured_ready_replicas_count_at_the_target_when_scaling_down():
    # one measured at 10 %, one just ready and not measured yet: (10 + 50) / 2 = 30 % -> ceil(2 * 0.6) = 2
    assert decide(2, at(10, None)).replicas == 2
    assert decide(3, at(10, None, None)).replicas == 3  # (10 + 50 + 50) / 3 = 36.7 % -> ceil(3 * 0.73) = 3


def test_nothing_measured_changes_nothing():
    decision = decide(2, at(None, unready=1))

    assert (decision.replicas, decision.utilization) == (2, None)
    assert decision.reason == "no ready replica measured yet"


def test_events_are_kept_to_the_last_twenty():
    events: list[dict] = []
    for number in range(25):
        events = scaling.kept(events, scaling.Event(f"t{number}", 1, 2, 90.0, "load"))

    assert len(events) == scaling.EVENTS_KEPT
    assert (events[0]["at"], events[-1]["at"]) == ("t5", "t24")


def config(resources: dict, settings: dict | None = None):
    given = {
        "app_name": "shop",
        "app_version": "1.0.0",
        "environment": "dev",
        "resources": resources,
        "custom_settings": {"command": ["python"], "port": 8000, **(settings or {})},
    }
    return configuring.build(new_config_id(), given, T0).value


def test_the_policy_comes_from_the_resources_and_the_pacing_from_custom_settings():
    resources = {"auto_scaling": True, "replicas_min": 1, "replicas_max": 3, "cpu_min": "50m"}
    resources["auto_scaling_cpu_threshold"] = 60
    chosen = config(resources, {"autoscale_interval_seconds": 0.5, "scale_down_stabilization_seconds": 2})
    local = options.options_for(chosen).value

    policy = scaling.policy_for(chosen, local.autoscale_interval, local.scale_down_stabilization)

    assert policy == Policy(1, 3, 60, 0.05, 0.5, 2.0)
    assert Policy.from_request(policy.as_request()) == policy
    assert scaling.policy_for(config({"auto_scaling": False}), 15, 300) is None


def test_the_pacing_defaults_to_the_hpas():
    local = options.options_for(config({})).value

    assert (local.autoscale_interval, local.scale_down_stabilization) == (15.0, 300.0)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("autoscale_interval_seconds", 0),
        ("autoscale_interval_seconds", "15"),
        ("autoscale_interval_seconds", True),
        ("scale_down_stabilization_seconds", -1),
        ("scale_down_stabilization_seconds", 3601),
    ],
)
def test_bad_pacing_is_refused_by_name(key: str, value: object):
    refused = options.options_for(config({}, {key: value}))

    assert refused.is_failure()
    assert refused.error.context["field"] == f"custom_settings.{key}"


def meta(version_id: str, *, retire_at: float | None = None, app: str = "shop") -> VersionMeta:
    return VersionMeta(version_id, app, "dev", "1.0.0", "deployment-1", 8000, "/", retire_at=retire_at)


def agent(*versions: VersionMeta, weights: dict[str, int], removing=(), leaving=()) -> SimpleNamespace:
    """What the autoscaler reads of the agent: its version sets, the routes' weights, what is going."""
    apps = {(version.app, version.environment) for version in versions}
    routes = {key: {name: weight for name, weight in weights.items() if name.startswith(key[0])} for key in apps}
    return SimpleNamespace(
        versions={version.id: version for version in versions},
        weights=routes,
        removing=set(removing),
        leaving={name: {1} for name in leaving},
    )


def test_the_version_set_taking_all_traffic_alone_is_the_autoscalers():
    live = meta("shop-1")

    assert autoscaling.paused_because(live, agent(live, meta("blog-1", app="blog"), weights={"shop-1": 100})) is None


def test_a_previous_release_kept_for_its_rollback_window_does_not_pause_it():
    live, previous = meta("shop-2"), meta("shop-1", retire_at=1e12)

    assert autoscaling.paused_because(live, agent(live, previous, weights={"shop-2": 100, "shop-1": 0})) is None
    assert autoscaling.paused_because(previous, agent(live, previous, weights={"shop-2": 100, "shop-1": 0})) == (
        "retiring (a previous release kept for its rollback window)"
    )


@pytest.mark.parametrize(
    ("weights", "why"),
    [
        ({"shop-1": 100, "shop-2": 0}, "a rollout is under way (shop-2 runs beside it)"),  # green or a new batch
        ({"shop-1": 90, "shop-2": 10}, "it takes 90% of the traffic, not 100%"),  # a canary step
        ({"shop-1": 0, "shop-2": 100}, "it takes 0% of the traffic, not 100%"),  # switched away
    ],
)
def test_a_rollout_under_way_pauses_it(weights: dict[str, int], why: str):
    live, rolled_out = meta("shop-1"), meta("shop-2")

    assert autoscaling.paused_because(live, agent(live, rolled_out, weights=weights)).startswith(why)


def test_a_version_set_going_or_shrinking_is_left_alone():
    live = meta("shop-1")

    assert autoscaling.paused_because(live, agent(live, weights={"shop-1": 100}, removing=["shop-1"])) == (
        "being removed"
    )
    assert autoscaling.paused_because(live, agent(live, weights={"shop-1": 100}, leaving=["shop-1"])) == (
        "a scale-down is under way"
    )
    going = meta("shop-2")
    assert autoscaling.paused_because(live, agent(live, going, weights={"shop-1": 100}, removing=["shop-2"])) is None


def test_cpu_is_counted_per_process_never_backwards_and_never_across_a_restart():
    tick = 1 / measuring.TICKS_PER_SECOND
    before = measuring.Reading(start_ticks=7, cpu_ticks=100, at=10.0)

    assert measuring._cores(before, measuring.Reading(7, 150, 10.5)) == pytest.approx(50 * tick / 0.5)
    assert measuring._cores(before, measuring.Reading(7, 90, 11.0)) == 0  # a member ended, unreaped by the group
    assert measuring._cores(before, measuring.Reading(8, 150, 11.0)) is None  # another process on the same pid
    assert measuring._cores(None, before) is None  # a first reading


def test_uno_deploy_agent_shows_the_state_and_the_last_five_scales():
    events = [scaling.Event(f"t{n}", n, n + 1, 90.0, "CPU 90% of request, target 50%") for n in range(1, 8)]
    report = {
        "replicas_min": 1,
        "replicas_max": 10,
        "target": 50,
        "state": "paused: a rollout is under way (shop-2 runs beside it)",
        "utilization": 90.0,
        "reason": "CPU 90% of request, target 50%; 2 wanted",
        "events": [asdict(event) for event in events],
    }
    version = {"id": "shop-1", "app": "shop", "environment": "dev", "replicas": 8, "autoscaling": report}

    shown = cli_autoscaling.lines(version)

    assert shown[0] == (
        "autoscaling shop in dev (shop-1): 8 replica(s) of 1..10, target 50%; paused: a rollout is under way"
        " (shop-2 runs beside it): CPU 90% of request, target 50%; 2 wanted"
    )
    assert shown[1:] == [f"  scaled t{n}: {n} -> {n + 1} (CPU 90% of request, target 50%)" for n in range(3, 8)]
    assert cli_autoscaling.lines({**version, "autoscaling": {**report, "events": []}})[1:] == ["  not scaled yet"]
