"""What a deploy of a release would send to Heroku, as plain data (``uno-deploy render``, ``plan``).

Each object is one Platform API request: its ``call`` (method and path) and its ``body``,
built by the same functions the driver sends (``resources``), which Heroku's own JSON
hyper-schema accepts (the tests validate them against each link's ``schema``). What exists
only once the deploy runs (the upload URL ``POST /sources`` returns, the live config vars
a change is computed against) appears as readable placeholders. Secrets never appear:
each is ``<from $NAME at deploy time>``. Pure: no network.
"""

from __future__ import annotations

from typing import Any

from uno.deployment.adapters.platforms.heroku import resources
from uno.deployment.adapters.platforms.heroku.options import HerokuOptions, secret_names
from uno.deployment.ports.platforms import Release


def render(release: Release, chosen: HerokuOptions) -> dict[str, Any]:
    config = release.config
    app = chosen.app
    secrets = {name: f"<from ${name} at deploy time>" for name in secret_names(config)}
    preboot = resources.uses_preboot(config)
    objects = [
        _object("AppFeature", "preboot", f"PATCH /apps/{app}/features/preboot", resources.preboot(preboot)),
        _object("ConfigVars", app, f"PATCH /apps/{app}/config-vars", resources.config_vars(config, secrets, {})),
        _object(
            "Build",
            app,
            f"POST /apps/{app}/builds",
            resources.build("<source_blob.get_url of POST /sources>", release.deployment_id, release.version),
        ),
        _object(
            "Formation",
            chosen.process_type,
            f"PATCH /apps/{app}/formation",
            resources.formation(chosen, config.resources.replicas_min),
        ),
    ]
    how = (
        "preboot on: Heroku starts the new dynos beside the old ones and moves traffic once they are up"
        if preboot
        else "preboot off (recreate): the old dynos stop when the new release is made, a short downtime"
    )
    notes = [
        f"before the build: POST /sources, then the tarball of {chosen.source_dir} is uploaded to its put_url",
        how,
        "Heroku keeps no earlier release running: a rollback is a platform rollback"
        " (POST /apps/{app}/releases {release: id}), which starts the earlier slug and config again",
        "config vars: only those that differ from the live ones are sent (shown: all, as against an empty app)",
        f"the API token is read from ${chosen.api_key_env} at deploy time; it is never rendered or stored",
    ]
    return {"platform": "heroku", "app": app, "format": "json", "notes": notes, "objects": objects}


def _object(kind: str, name: str, call: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "name": name, "call": call, "body": body}
