"""``uno-deploy render -f`` of a DigitalOcean configuration: the app spec, as DigitalOcean's description accepts it."""

from __future__ import annotations

import json

from tests.cli.support import ROOT, as_json, ok
from tests.digitalocean_contract import problems, request_problems

EXAMPLE = ROOT / "examples" / "digitalocean" / "deployment.yaml"


def test_render_shows_the_app_spec_valid_for_its_call():
    rendered = as_json("render", "-f", str(EXAMPLE))

    assert rendered["platform"] == "digitalocean"
    [item] = rendered["objects"]
    assert item["call"] == "POST /v2/apps"
    assert request_problems("POST", "/v2/apps", item["body"]) == []
    assert problems("app_spec.yml", item["body"]["spec"]) == []
    [service] = item["body"]["spec"]["services"]
    assert service["instance_count"] == 2
    assert service["instance_size_slug"] == "apps-s-1vcpu-1gb"
    assert {env["key"]: env["type"] for env in service["envs"]}["HELLO_API_KEY"] == "SECRET"


def test_native_render_prints_the_request_body_alone():
    printed = ok("render", "-f", str(EXAMPLE)).stdout

    assert json.loads(printed)["spec"]["name"] == "hello-production"
