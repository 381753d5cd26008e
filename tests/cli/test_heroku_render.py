"""``uno-deploy render -f`` of a Heroku configuration: the Platform API bodies, each one Heroku's schema accepts."""

from __future__ import annotations

import json

import pytest

from tests.cli.support import ROOT, as_json, ok
from tests.heroku_contract import contract

EXAMPLE = ROOT / "examples" / "heroku" / "deployment.yaml"


@pytest.mark.parametrize(("strategy", "preboot"), [("blue-green", True), ("rolling", True), ("recreate", False)])
def test_render_shows_preboot_config_vars_build_and_formation_each_valid_for_its_call(strategy: str, preboot: bool):
    rendered = as_json("render", "-f", str(EXAMPLE), "--set", f"strategy={strategy}")

    assert rendered["platform"] == "heroku"
    objects = {item["kind"]: item for item in rendered["objects"]}
    assert list(objects) == ["AppFeature", "ConfigVars", "Build", "Formation"]
    assert objects["AppFeature"]["body"] == {"enabled": preboot}
    assert objects["ConfigVars"]["body"]["HELLO_API_KEY"] == "<from $HELLO_API_KEY at deploy time>"
    assert objects["Formation"]["body"] == {"updates": [{"type": "web", "quantity": 2, "size": "standard-2x"}]}
    for item in rendered["objects"]:
        method, path = item["call"].split(" ", 1)
        assert contract().request_problems(method, path, item["body"]) == [], item


def test_native_render_prints_the_bodies_alone():
    printed = ok("render", "-f", str(EXAMPLE)).stdout

    bodies = [json.loads(part) for part in printed.replace("}\n{", "}\0{").split("\0")]
    assert bodies[0] == {"enabled": True}
    assert bodies[-1]["updates"][0]["type"] == "web"
