"""A read-only root filesystem gives a replica its own empty /tmp: a command naming a file there is refused up front."""

from __future__ import annotations

from tests.contract.test_repositories import T0
from uno.core.result import Failure, Success
from uno.deployment.adapters.platforms.local import options
from uno.deployment.domain import configuring
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.ids import new_config_id


def config(command: list[str], read_only: bool) -> DeploymentConfig:
    given = {
        "app_name": "walk",
        "app_version": "1.0.0",
        "environment": "dev",
        "security": {"read_only_root_filesystem": read_only},
        "custom_settings": {"command": command, "port": 18477, "workdir": "/tmp/walk"},
    }
    return configuring.build(new_config_id(), given, T0).value


def test_an_absolute_path_under_tmp_is_refused_with_a_read_only_root_filesystem():
    refused = options.options_for(config(["/usr/bin/python3", "/tmp/walk/app.py"], read_only=True))

    assert isinstance(refused, Failure)
    assert refused.error.context["field"] == "custom_settings.command"
    assert refused.error.message.startswith(
        "custom_settings.command: /tmp/walk/app.py is under /tmp, which read_only_root_filesystem replaces"
    )


def test_a_path_relative_to_the_workdir_and_a_writable_filesystem_are_accepted():
    assert isinstance(options.options_for(config(["/usr/bin/python3", "app.py"], read_only=True)), Success)
    assert isinstance(options.options_for(config(["/usr/bin/python3", "/tmp/walk/app.py"], read_only=False)), Success)
