"""``uno-deploy render -f`` of a Cloud Run configuration: the Service body, valid for Cloud Run's API."""

from __future__ import annotations

from tests import cloud_run_contract as contract
from tests.cli.support import ROOT, as_json

EXAMPLE = ROOT / "examples" / "gcp" / "deployment.yaml"


def test_render_of_the_example_shows_the_service_body_with_the_revision_taking_all_traffic():
    rendered = as_json("render", "-f", str(EXAMPLE))

    assert rendered["platform"] == "gcp"
    [service] = rendered["objects"]
    assert service["name"] == "projects/shop-project-1/locations/europe-west1/services/shop-production"
    body = service["body"]
    assert contract.problems("GoogleCloudRunV2Service", body) == []
    assert [entry["percent"] for entry in body["traffic"]] == [100]
    container = body["template"]["containers"][0]
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "2048Mi"}
    assert body["template"]["scaling"] == {"minInstanceCount": 2, "maxInstanceCount": 6}
    secret = next(item for item in container["env"] if item["name"] == "STRIPE_KEY")
    assert secret["valueSource"]["secretKeyRef"] == {
        "secret": "projects/shop-project-1/secrets/stripe-key",
        "version": "latest",
    }
