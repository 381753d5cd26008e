"""The fake Cloud Run API is held to Cloud Run's discovery document, and the check bites.

``tests/contract/run.v2.json`` is Cloud Run Admin API v2's own description (from the
google-api-python-client wheel). A body the document does not allow is refused by the fake
(400, as the API refuses an unknown field) and recorded as a violation; the driver's and
``render``'s bodies conform.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import cloud_run_contract as contract
from tests.fake_cloud_run import serving
from tests.gcp_support import SERVICE, release
from uno.deployment.adapters.platforms.gcp import options, rendering, resources

pytestmark = pytest.mark.integration


def test_a_deliberately_wrong_service_body_is_caught():
    wrong = {
        "template": {
            "containers": [{"image": 7, "imagePullPolicy": "Always"}],  # a number; a Kubernetes field Cloud Run lacks
            "scaling": {"minInstanceCount": "two"},
        },
        "traffic": [{"type": "BY_REVISION", "percent": 100}],
    }

    found = contract.problems("GoogleCloudRunV2Service", wrong)

    assert any("template/containers/0/image" in problem for problem in found)
    assert any("imagePullPolicy" in problem for problem in found)
    assert any("template/scaling/minInstanceCount" in problem for problem in found)
    assert any("traffic/0/type" in problem for problem in found)


def test_the_fake_refuses_a_body_the_document_does_not_allow_and_records_it():
    with serving() as fake:
        request = urllib.request.Request(
            f"{fake.url}/v2/projects/p-123456/locations/europe-west1/services?serviceId=shop",
            data=json.dumps({"template": {"containers": [{"image": "x", "cpu": "1"}]}}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)

        assert refused.value.code == 400
        assert "Invalid JSON payload" in json.loads(refused.value.read())["error"]["message"]
        assert fake.violations == [
            "request GoogleCloudRunV2Service at template/containers/0: Additional properties are not allowed"
            " ('cpu' was unexpected)"
        ]
        assert fake.services == {}


def test_what_render_shows_is_a_service_body_cloud_run_accepts():
    chosen_release = release("1.0.0", "dep-aaaa1111", secret_refs={"API_KEY": "projects/shop-project-1/secrets/api"})
    config = chosen_release.config.model_copy(update={"secrets": ["API_KEY"]})
    chosen = options.options_for(config).value

    rendered = rendering.render(chosen_release.__class__(chosen_release.deployment_id, config), chosen)

    body = rendered["objects"][0]["body"]
    assert contract.problems("GoogleCloudRunV2Service", body) == []
    assert rendered["objects"][0]["name"] == SERVICE
    env = {item["name"]: item for item in body["template"]["containers"][0]["env"]}
    assert env["API_KEY"] == {
        "name": "API_KEY",
        "valueSource": {"secretKeyRef": {"secret": "projects/shop-project-1/secrets/api", "version": "latest"}},
    }
    assert body["traffic"] == [
        {
            "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
            "revision": resources.revision_name(chosen, config, "dep-aaaa1111"),
            "percent": 100,
            "tag": "v1-0-0-aaaa1111",
        }
    ]


def test_uno_deploy_render_prints_the_service_body_cloud_run_accepts(tmp_path):
    """``uno-deploy render -f``: the Service request body on stdout, what names it on stderr."""
    file = tmp_path / "deployment.json"
    custom = {
        "project": "shop-project-1",
        "region": "europe-west1",
        "image": "europe-west1-docker.pkg.dev/shop-project-1/apps/shop:1.2.0",
        "secret_refs": {"API_KEY": "projects/shop-project-1/secrets/shop-api-key/versions/3"},
        "canary": {"steps": [10, 50, 100], "analysis": "health"},
    }
    config = {
        "app_name": "shop",
        "app_version": "1.2.0",
        "environment": "production",
        "platform": "gcp",
        "strategy": "canary",
        "secrets": ["API_KEY"],
        "custom_settings": custom,
    }
    file.write_text(json.dumps(config))
    program = Path(sys.executable).parent / "uno-deploy"
    env = {**os.environ, "UNO_DEPLOY_DATABASE_URL": "memory://", "UNO_DEPLOY_HOME": str(tmp_path)}

    done = subprocess.run(
        [str(program), "render", "-f", str(file)], capture_output=True, text=True, env=env, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert contract.problems("GoogleCloudRunV2Service", body) == []
    assert body["template"]["containers"][0]["env"][-1]["valueSource"]["secretKeyRef"]["version"] == "3"
    assert "services/shop-production call: run.projects.locations.services.patch" in done.stderr
