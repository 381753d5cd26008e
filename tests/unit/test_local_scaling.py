"""The local autoscaler's decisions: the Kubernetes HPA's algorithm, with its tolerance, bounds and stabilization."""

from __future__ import annotations

import pytest

from tests.contract.test_repositories import T0
from uno.deployment.adapters.platforms.local import options, scaling
from uno.deployment.adapters.platforms.local.scaling import Policy, Sample
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import new_config_id

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
    assert "bounded to 1..10" in idle.reason


def test_a_scale_down_waits_for_the_highest_recommendation_of_the_window():
    history = [(800.0, 4), (900.0, 3)]  # 200 s and 100 s ago

    held = decide(4, at(10, 10, 10, 10), history)

    assert held.replicas == 4
    assert held.recommendation == 1
    assert "held at 4 by the last 300s" in held.reason
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
