"""``uno-deploy render -f`` of an AWS configuration: the requests a deploy would send, each valid for its call."""

from __future__ import annotations

import botocore.session
from botocore.validate import ParamValidator

from tests.cli.support import ROOT, as_json

EXAMPLE = ROOT / "examples" / "aws" / "deployment.yaml"


def test_render_of_the_example_shows_the_task_definition_target_group_and_listener_weights():
    rendered = as_json("render", "-f", str(EXAMPLE))

    assert rendered["platform"] == "aws"
    objects = {item["kind"]: item for item in rendered["objects"]}
    assert list(objects) == ["TaskDefinition", "TargetGroup", "Service", "Listener", "ScalableTarget", "ScalingPolicy"]
    groups = objects["Listener"]["body"]["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    assert [group["Weight"] for group in groups] == [100]
    assert objects["TargetGroup"]["body"]["HealthCheckPath"] == "/health"
    container = objects["TaskDefinition"]["body"]["containerDefinitions"][0]
    assert container["secrets"][0]["valueFrom"].startswith("arn:aws:secretsmanager:")
    session = botocore.session.get_session()
    for item in rendered["objects"]:
        prefix, operation = item["call"].split(":")
        model = session.get_service_model({"elasticloadbalancing": "elbv2"}.get(prefix, prefix))
        report = ParamValidator().validate(item["body"], model.operation_model(operation).input_shape)
        assert not report.has_errors(), report.generate_report()
