"""What a deploy of a release would send to AWS, as plain data (``uno-deploy render``, ``plan``).

Each object is one request: its ``call`` (the API operation), the ``cli`` that accepts its
``body`` as it is (``--cli-input-json``), and the ``body``, built by the same functions
the driver sends (``resources``). ARNs that exist only once the release's resources are
made (its task definition revision, its target group) appear as readable placeholders.
Pure: no boto3, no network.
"""

from __future__ import annotations

from typing import Any

from uno.deployment.adapters.platforms.aws import resources
from uno.deployment.adapters.platforms.aws.options import AwsOptions, secret_names
from uno.deployment.ports.platforms import Release


def render(release: Release, chosen: AwsOptions) -> dict[str, Any]:
    config = release.config
    named = resources.names(config, release.deployment_id, chosen.cluster)
    account = chosen.routing_arn.split(":")[4]
    partition = chosen.routing_arn.split(":")[1]
    group = f"arn:{partition}:elasticloadbalancing:{chosen.region}:{account}:targetgroup/{named.target_group}/<id>"
    definition = f"arn:{partition}:ecs:{chosen.region}:{account}:task-definition/{named.family}:<revision>"
    service = resources.service(
        config,
        chosen,
        release.deployment_id,
        replicas=config.resources.replicas_min,
        task_definition_arn=definition,
        target_group_arn=group,
    )
    operation, listener = resources.routing(chosen, {group: 100})
    objects = [
        _object(
            "TaskDefinition",
            named.family,
            "ecs:RegisterTaskDefinition",
            "aws ecs register-task-definition",
            resources.task_definition(config, chosen, release.deployment_id),
        ),
        _object(
            "TargetGroup",
            named.target_group,
            "elasticloadbalancing:CreateTargetGroup",
            "aws elbv2 create-target-group",
            resources.target_group(config, chosen, release.deployment_id),
        ),
        _object("Service", named.service, "ecs:CreateService", "aws ecs create-service", service),
        _object(
            "Listener",
            chosen.routing_arn,
            f"elasticloadbalancing:{operation}",
            "aws elbv2 modify-rule" if operation == "ModifyRule" else "aws elbv2 modify-listener",
            listener,
        ),
    ]
    notes = [
        f"the service {named.service} starts at {config.resources.replicas_min} task(s); its target group joins"
        f" {chosen.routing_arn} at weight 0, then the strategy moves the weights in one {operation} call each"
        " (shown: the end state, all traffic to this release)",
        "placeholders <id> and <revision> are the ARNs AWS gives the target group and task definition when made",
        "credentials come from the standard AWS chain; none is rendered or stored",
    ]
    scaling = resources.autoscaling(config)
    if scaling is not None:
        low, high, cpu = (int(part) for part in scaling.split(":"))
        objects += [
            _object(
                "ScalableTarget",
                named.service,
                "application-autoscaling:RegisterScalableTarget",
                "aws application-autoscaling register-scalable-target",
                resources.scalable_target(chosen.cluster, named.service, low, high),
            ),
            _object(
                "ScalingPolicy",
                f"{named.service}-cpu",
                "application-autoscaling:PutScalingPolicy",
                "aws application-autoscaling put-scaling-policy",
                resources.scaling_policy(chosen.cluster, named.service, cpu),
            ),
        ]
        notes.append("the scalable target and policy apply once the service takes all traffic")
    if wanted := secret_names(config):
        notes.append(f"ECS reads {', '.join(wanted)} from the ARNs in secret_arns at task start (never rendered)")
    return {"platform": "aws", "region": chosen.region, "cluster": chosen.cluster, "notes": notes, "objects": objects}


def _object(kind: str, name: str, call: str, cli: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "name": name, "call": call, "cli": f"{cli} --cli-input-json", "body": body}
