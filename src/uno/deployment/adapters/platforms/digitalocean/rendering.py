"""What a deploy of a release would send to App Platform, as plain data (``render``).

One object: the app spec, in the ``apps.update`` request body (``{"spec": ...}``), which
DigitalOcean's OpenAPI description accepts (the tests validate it), and whose ``spec`` is
what ``doctl apps spec validate`` reads. For an existing app (``app_id``) the deploy puts
this service into the app's live spec and keeps its other components; the render, which
reads nothing, shows the service alone. Secrets appear as ``<from $NAME at deploy time>``.
"""

from __future__ import annotations

from typing import Any

from uno.deployment.adapters.platforms.digitalocean import resources
from uno.deployment.adapters.platforms.digitalocean.options import DigitalOceanOptions, secret_names
from uno.deployment.ports.platforms import Release


def render(release: Release, chosen: DigitalOceanOptions) -> dict[str, Any]:
    config = release.config
    secrets = {name: f"<from ${name} at deploy time>" for name in secret_names(config)}
    spec = resources.app_spec(config, chosen, release.deployment_id, secrets)
    if chosen.app_id:
        call, name = f"PUT /v2/apps/{chosen.app_id}", chosen.app_id
    else:
        call, name = "POST /v2/apps", str(spec["name"])
    notes = [
        "App Platform runs one deployment of an app at a time and weighs no traffic between them:"
        " a new deployment replaces the live one with App Platform's own rolling deploy",
        "a rollback is App Platform's rollback (validate, create, then commit or revert)",
        f"the API token is read from ${chosen.token_env} at deploy time; it is never rendered or stored",
    ]
    if chosen.app_id:
        notes.append("the deploy keeps the app's other components: this service is put into its live spec")
    objects = [{"kind": "AppSpec", "name": name, "call": call, "body": resources.update_request(spec)}]
    return {"platform": "digitalocean", "format": "json", "notes": notes, "objects": objects}
