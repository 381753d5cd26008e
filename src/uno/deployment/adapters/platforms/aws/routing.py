"""Reading and writing the one action that routes traffic, and refusing what is not ours.

The weights live on the platform, in the listener's default action (``listener_arn``) or in
one rule's action (``listener_rule_arn``): a forward action to weighted target groups. The
driver never touches the listener's other rules, and takes over an action only when it
forwards to target groups tagged as this application's and environment's, or when it is a
fixed response (a fresh listener). Anything else (another team's target group, a
redirect) is refused before anything changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from uno.deployment.adapters.platforms.aws import resources
from uno.deployment.adapters.platforms.aws.client import Aws, failed
from uno.deployment.adapters.platforms.aws.options import AwsOptions


async def actions(aws: Aws, chosen: AwsOptions) -> list[dict[str, Any]]:
    if chosen.listener_rule_arn:
        found = await aws.call("elbv2", "describe_rules", chosen.listener_rule_arn, RuleArns=[chosen.listener_rule_arn])
        return list(found["Rules"][0].get("Actions", []))
    assert chosen.listener_arn is not None
    found = await aws.call("elbv2", "describe_listeners", chosen.listener_arn, ListenerArns=[chosen.listener_arn])
    return list(found["Listeners"][0].get("DefaultActions", []))


def weights_of(found: list[dict[str, Any]]) -> dict[str, int]:
    """Target group ARN -> weight, from a forward action (a single target group forwards everything)."""
    weights: dict[str, int] = {}
    for action in found:
        if action.get("Type") != "forward":
            continue
        groups = action.get("ForwardConfig", {}).get("TargetGroups")
        if groups:
            weights.update({group["TargetGroupArn"]: int(group.get("Weight", 1)) for group in groups})
        elif action.get("TargetGroupArn"):
            weights[action["TargetGroupArn"]] = 100
    return weights


async def claimed(aws: Aws, chosen: AwsOptions, app: str, environment: str) -> dict[str, int]:
    """The current weights, once the action is known to be ours to change (else PLATFORM_ERROR)."""
    found = await actions(aws, chosen)
    where = chosen.routing_arn
    for action in found:
        if action.get("Type") not in ("forward", "fixed-response"):
            raise failed(
                f"{where} has a {action.get('Type')} action: uno-deploy only takes over a forward or fixed-response",
                resource=where,
            )
    weights = weights_of(found)
    if weights:
        tags = await tags_of(aws, list(weights))
        for arn in weights:
            mine = tags.get(arn, {})
            owned = mine.get(resources.MANAGED_BY) == resources.MANAGER
            if not owned or mine.get(resources.APP) != app or mine.get(resources.ENVIRONMENT) != environment:
                message = (
                    f"{where} forwards to target group {arn}, which uno-deploy does not manage for {app} in "
                    f"{environment}: refusing to take it over (give this application its own listener or rule)"
                )
                raise failed(message, resource=where, target_group=arn)
    return weights


async def tags_of(aws: Aws, arns: list[str]) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), 20):  # DescribeTags takes 20 ARNs at most
        chunk = arns[start : start + 20]
        found = await aws.call("elbv2", "describe_tags", ", ".join(chunk), ResourceArns=chunk)
        for description in found["TagDescriptions"]:
            tags[description["ResourceArn"]] = {tag["Key"]: tag.get("Value", "") for tag in description["Tags"]}
    return tags


MOST_TARGET_GROUPS = 5  # an ALB forward action's limit


def make_room(chosen: AwsOptions, count: int) -> None:
    """Refuse a forward action of more target groups than an ALB allows, saying what to do."""
    if count > MOST_TARGET_GROUPS:
        message = (
            f"{chosen.routing_arn} would forward to {count} target groups, and an ALB forward action holds "
            f"at most {MOST_TARGET_GROUPS}: let rollback windows end (or roll back) before another release"
        )
        raise failed(message, resource=chosen.routing_arn)


async def route(aws: Aws, chosen: AwsOptions, weights: Mapping[str, int]) -> None:
    """Set every weight at once: one ModifyListener or ModifyRule call.

    Every live version set's target group stays in the action (weight 0 when idle): a target
    group no load balancer uses reports its targets ``unused``, so a warm release would look
    unhealthy and could not take traffic back at once.
    """
    make_room(chosen, len(weights))
    operation, body = resources.routing(chosen, weights)
    await aws.call(
        "elbv2", "modify_rule" if operation == "ModifyRule" else "modify_listener", chosen.routing_arn, **body
    )
