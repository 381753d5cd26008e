"""What a deploy of a release would send to Cloud Run, as plain data (``uno-deploy render``, ``plan``).

One object: the ``Service`` request body (``run.googleapis.com/v2``), built by the same
functions the driver sends (``resources``), shown as the end state (all traffic to this
release's revision). ``gcloud run services replace`` takes the v1 (Knative) format, not
this one: the body is for ``services.create``/``services.patch`` (``curl`` or any client).
Pure: no SDK, no network.
"""

from __future__ import annotations

from typing import Any

from uno.deployment.adapters.platforms.gcp import resources
from uno.deployment.adapters.platforms.gcp.options import GcpOptions, secret_names
from uno.deployment.ports.platforms import Release


def render(release: Release, chosen: GcpOptions) -> dict[str, Any]:
    config = release.config
    revision = resources.revision_name(chosen, config, release.deployment_id)
    tags = resources.tags(config, release.deployment_id, chosen.service, revision)
    body = resources.service(config, chosen, release.deployment_id, {revision: 100}, tags)
    objects = [
        {
            "kind": "Service",
            "name": chosen.service_path,
            "call": "run.projects.locations.services.patch (services.create the first time)",
            "body": body,
        }
    ]
    notes = [
        f"the revision {revision} is made by one services.patch that keeps the traffic where it is (the new revision"
        " at 0% with its tag); the strategy then moves the weights, one services.patch each (shown: the end state)",
        "the first revision of a new service serves as soon as it is ready: Cloud Run routes all traffic somewhere",
        "credentials come from Application Default Credentials; none is rendered or stored",
    ]
    if wanted := secret_names(config):
        notes.append(f"Cloud Run reads {', '.join(wanted)} from Secret Manager at instance start (never rendered)")
    return {
        "platform": "gcp",
        "format": "json",
        "project": chosen.project,
        "region": chosen.region,
        "notes": notes,
        "objects": objects,
    }
