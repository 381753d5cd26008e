"""What is live on AWS for an application, beside what a deploy of a release would make (``diff``).

A deploy on AWS makes a new version set (its own task definition revision, target group,
service and scaling) and moves the listener's traffic to it, so every object of a release
has a new name. What it is compared with is the same object of the version set that
SERVING now (the one the listener weighs most): by role, not by name. Each side is
reduced to what the configuration decides:

- per-release bookkeeping is left out on both sides: names (``family`` stays, it is per
  application), the ARNs that tie one release's objects together, the ``uno.deployment-id``
  tag and the rollback-window tags;
- the live side keeps only the fields the wanted request sets (AWS adds revisions,
  statuses, ARNs, timestamps, defaults such as ``hostPort``), lists of named items matched
  by name;
- tags are compared as a map (their order is no change);
- the listener's action is compared by role too: the serving release's target group is
  ``(serving release)`` on the live side and this release's is on the wanted side, target
  groups at weight 0 (warm releases in their rollback windows) are left out. So a listener
  that sends everything to the serving release is unchanged by a deploy of the same
  configuration (the switch to the new release's target group is bookkeeping here, as the
  traffic list is on Cloud Run), and a canary under way or a fixed response (nothing
  deployed yet) shows as the weights a deploy would set.

The ECS service's ``desiredCount`` is compared only when the configuration does not
autoscale (the scaler moves it; the scalable target's bounds are compared instead).
Secrets: a task definition holds ARNs of secrets, never values, so nothing here is masked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from uno.deployment.adapters.platforms.aws import resources, routing
from uno.deployment.adapters.platforms.aws.client import Aws
from uno.deployment.adapters.platforms.aws.options import AwsOptions
from uno.deployment.ports.platforms import LiveObject

SERVING = "(serving release)"
TAGS = ("tags", "Tags")
BOOKKEEPING_TAGS = frozenset({resources.DEPLOYMENT_ID, resources.RETIRE_AFTER, resources.STATS_SINCE})
PER_RELEASE: dict[str, frozenset[str]] = {
    "TargetGroup": frozenset({"Name"}),
    "Service": frozenset({"serviceName", "taskDefinition", "cluster"}),  # the cluster is where both are read
    "ScalableTarget": frozenset({"ResourceId"}),
    "ScalingPolicy": frozenset({"ResourceId", "PolicyName"}),
}
"""Fields that name one release's objects or tie them together: left out on both sides."""

ALWAYS_SENT = frozenset({"Service"})
"""Kinds whose every request field the driver always sends: one the live side lacks is one AWS did not report.

(The AWS API reports them all; an AWS-compatible endpoint may not. A field not reported
cannot be compared: it is named in the object's note, never guessed.)
"""
_REQUESTS: dict[str, Callable[[str, str], dict[str, Any]]] = {  # the request's keys, to project a removed object
    "ScalableTarget": lambda cluster, name: resources.scalable_target(cluster, name, 0, 0),
    "ScalingPolicy": lambda cluster, name: resources.scaling_policy(cluster, name, 0),
}


def serving(services: Sequence[Mapping[str, Any]], weights: Mapping[str, int]) -> Mapping[str, Any] | None:
    """The live version set taking most traffic, or None when none takes any (nothing deployed, or all idle)."""
    weighed = [(weights.get(group_of(found), 0), str(found["serviceName"]), found) for found in services]
    taking = [item for item in weighed if item[0] > 0]
    return max(taking, key=lambda item: (item[0], item[1]))[2] if taking else None


def group_of(found: Mapping[str, Any]) -> str:
    balancers = found.get("loadBalancers") or [{}]
    return str(balancers[0].get("targetGroupArn", ""))


async def read(
    aws: Aws,
    chosen: AwsOptions,
    rendered: Mapping[str, Any],
    services: Sequence[Mapping[str, Any]],
    autoscaled: bool,
) -> list[LiveObject]:
    """Each rendered object beside its live counterpart of the serving version set (reads only)."""
    found_actions = await routing.actions(aws, chosen)
    weights = routing.weights_of(found_actions)
    now = serving(services, weights)
    objects: list[LiveObject] = []
    for item in rendered["objects"]:
        kind, name, body = str(item["kind"]), str(item["name"]), item["body"]
        if kind == "Listener":
            objects.append(_listener(name, body, found_actions, now))
            continue
        wanted = comparable(kind, body, autoscaled=autoscaled)
        if now is None:
            objects.append(LiveObject(kind, name, wanted, None, note="no version set serves yet: a deploy makes it"))
            continue
        live = await _live_body(aws, chosen, kind, now)
        note = f"compared by role with the serving version set {now['serviceName']}'s (names differ per release)"
        shaped = shaped_like(comparable(kind, live, autoscaled=autoscaled), wanted) if live is not None else None
        if kind in ALWAYS_SENT and shaped is not None:
            wanted, unreported = _reported(wanted, shaped)
            if unreported:
                note += f"; not reported by AWS, so not compared: {', '.join(unreported)}"
        objects.append(LiveObject(kind, name, wanted, shaped, note=note))
    wanted_kinds = {str(item["kind"]) for item in rendered["objects"]}
    if now is not None and "ScalableTarget" not in wanted_kinds:  # autoscaling turned off: a deploy ends it
        for kind in ("ScalableTarget", "ScalingPolicy"):
            live = await _live_body(aws, chosen, kind, now)
            if live is not None:
                note = f"the serving version set {now['serviceName']} autoscales; this configuration does not"
                request = _REQUESTS[kind](chosen.cluster, str(now["serviceName"]))
                shaped = shaped_like(comparable(kind, live), comparable(kind, request))
                objects.append(LiveObject(kind, str(now["serviceName"]), None, shaped, note=note))
    return objects


async def _live_body(aws: Aws, chosen: AwsOptions, kind: str, found: Mapping[str, Any]) -> dict[str, Any] | None:
    """The live object of ``kind`` for the version set ``found``, in its request's field names."""
    name = str(found["serviceName"])
    if kind == "Service":
        return {**found, "tags": found.get("tags", [])}
    if kind == "TaskDefinition":
        arn = str(found["taskDefinition"])
        answer = await aws.call("ecs", "describe_task_definition", arn, taskDefinition=arn, include=["TAGS"])
        return {**answer["taskDefinition"], "tags": answer.get("tags", [])}
    if kind == "TargetGroup":
        arn = group_of(found)
        answer = await aws.call("elbv2", "describe_target_groups", arn, TargetGroupArns=[arn])
        groups = answer.get("TargetGroups", [])
        if not groups:
            return None
        tags = (await routing.tags_of(aws, [arn])).get(arn, {})
        return {**groups[0], "Name": groups[0].get("TargetGroupName"), "Tags": resources.elb_tags(tags)}
    where = {
        "ServiceNamespace": "ecs",
        "ResourceId": resources.scaling_resource(chosen.cluster, name),
        "ScalableDimension": resources.SCALABLE_DIMENSION,
    }
    if kind == "ScalableTarget":
        answer = await aws.call(
            "application-autoscaling",
            "describe_scalable_targets",
            name,
            ServiceNamespace="ecs",
            ResourceIds=[where["ResourceId"]],
            ScalableDimension=resources.SCALABLE_DIMENSION,
        )
        targets = answer.get("ScalableTargets", [])
        return dict(targets[0]) if targets else None
    if kind == "ScalingPolicy":
        answer = await aws.call("application-autoscaling", "describe_scaling_policies", name, **where)
        policies = answer.get("ScalingPolicies", [])
        return dict(policies[0]) if policies else None
    raise ValueError(f"no live reading for {kind}")  # rendering and this module are changed together


def comparable(kind: str, body: Mapping[str, Any], *, autoscaled: bool = False) -> dict[str, Any]:
    """``body`` without per-release bookkeeping, tags as a map."""
    dropped = set(PER_RELEASE.get(kind, frozenset()))
    if kind == "Service" and autoscaled:
        dropped.add("desiredCount")
    found = {key: value for key, value in body.items() if key not in dropped}
    for key in TAGS:
        if key in found:
            found[key] = _tags_map(found[key])
    if kind == "Service":
        found["loadBalancers"] = [
            {key: value for key, value in item.items() if key != "targetGroupArn"}
            for item in found.get("loadBalancers", [])
        ]
    return found


def _tags_map(tags: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    pairs = ((tag.get("key", tag.get("Key")), tag.get("value", tag.get("Value", ""))) for tag in tags)
    return {str(key): str(value) for key, value in pairs if key not in BOOKKEEPING_TAGS}


def _listener(
    name: str, body: Mapping[str, Any], found: list[dict[str, Any]], now: Mapping[str, Any] | None
) -> LiveObject:
    """The routing action by role: who takes traffic and how much, warm releases at 0 left out."""
    key = "Actions" if "RuleArn" in body else "DefaultActions"
    wanted = {key: [_by_role(action, None) for action in body[key]]}
    live = {key: [_by_role(action, group_of(now) if now else None) for action in found]}
    note = "the new release's target group takes the serving release's role; weights of 0 are left out"
    return LiveObject("Listener", name, wanted, live, note=note)


def _by_role(action: Mapping[str, Any], serving_group: str | None) -> dict[str, Any]:
    """One action, its weighted target groups named by role (this or the serving release) or by name."""
    if action.get("Type") != "forward":
        return {key: value for key, value in action.items() if key in ("Type", "FixedResponseConfig", "Order")}
    groups = action.get("ForwardConfig", {}).get("TargetGroups") or [
        {"TargetGroupArn": action.get("TargetGroupArn", ""), "Weight": 100}
    ]
    weights: dict[str, int] = {}
    for group in groups:
        weight = int(group.get("Weight", 1))
        if not weight:
            continue
        arn = str(group["TargetGroupArn"])
        role = SERVING if serving_group is None or arn == serving_group else arn.split("/")[1]
        weights[role] = weights.get(role, 0) + weight
    return {"Type": "forward", "ForwardConfig": {"TargetGroups": weights}}


def _reported(wanted: Mapping[str, Any], live: Mapping[str, Any], prefix: str = "") -> tuple[dict[str, Any], list[str]]:
    """``wanted`` without the map keys ``live`` does not report, and their paths."""
    kept: dict[str, Any] = {}
    unreported: list[str] = []
    for key, value in wanted.items():
        path = f"{prefix}.{key}" if prefix else key
        if key not in live:
            unreported.append(path)
        elif isinstance(value, Mapping) and isinstance(live[key], Mapping):
            kept[key], deeper = _reported(value, live[key], path)
            unreported += deeper
        else:
            kept[key] = value
    return kept, unreported


def shaped_like(live: Any, wanted: Any) -> Any:
    """``live`` with only the fields ``wanted`` has: maps key by key, named lists by name, others item by item."""
    if isinstance(live, dict) and isinstance(wanted, dict):
        return {
            key: value if key in TAGS else shaped_like(value, wanted[key])  # a tag is all there is: none is extra
            for key, value in live.items()
            if key in wanted
        }
    if isinstance(live, list) and isinstance(wanted, list):
        if _named(wanted) and _named(live):
            by_name = {item["name"]: item for item in wanted}
            return [shaped_like(item, by_name[item["name"]]) if item["name"] in by_name else item for item in live]
        if len(live) == len(wanted):
            return [shaped_like(item, other) for item, other in zip(live, wanted, strict=True)]
    return live


def _named(items: list[Any]) -> bool:
    names = [item.get("name") for item in items if isinstance(item, Mapping)]
    return (
        bool(items)
        and len(names) == len(items)
        and all(isinstance(name, str) for name in names)
        and len(set(names)) == len(names)
    )
