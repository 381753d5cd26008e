"""Steering a canary by hand: pauses, promote and abort, on the fake platform and a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from uno.core.errors import ErrorCode
from uno.core.result import Failure, Success
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import new_config_id
from uno.deployment.strategies.tuning import tuning_for


def tuned(canary: dict[str, Any]) -> Any:
    config = configuring.build(
        new_config_id(),
        {"app_name": "shop", "app_version": "1.0.0", "environment": "staging", "custom_settings": {"canary": canary}},
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert isinstance(config, Success)
    return tuning_for(config.value)


def test_pauses_are_off_unless_asked_for():
    canary = tuned({}).value.canary

    assert (canary.pause_after, canary.pause_timeout_seconds, canary.on_pause_timeout) == (frozenset(), 3600.0, "abort")


@pytest.mark.parametrize(
    ("pause_after", "expected"), [([25], {25}), ([10, 50], {10, 50}), ("every", {10, 25, 50}), ([], set())]
)
def test_pause_after_names_steps_or_every_step_below_100(pause_after, expected):
    canary = tuned({"pause_after": pause_after, "pause_timeout_seconds": 600, "on_pause_timeout": "promote"})

    assert canary.value.canary.pause_after == expected
    assert (canary.value.canary.pause_timeout_seconds, canary.value.canary.on_pause_timeout) == (600.0, "promote")


@pytest.mark.parametrize(
    ("canary", "message"),
    [
        (
            {"pause_after": [30]},
            "custom_settings.canary.pause_after[0]: 30 is not one of the canary's steps below 100 (10, 25, 50)",
        ),
        (
            {"steps": [20, 100], "pause_after": [20, 100]},
            "custom_settings.canary.pause_after[1]: 100 is not one of the canary's steps below 100 (20)",
        ),
        (
            {"pause_after": [True]},
            "custom_settings.canary.pause_after[0]: True is not one of the canary's steps below 100 (10, 25, 50)",
        ),
        (
            {"pause_after": "all"},
            'custom_settings.canary.pause_after: must be "every" or a list of the canary\'s steps below 100 '
            "(10, 25, 50)",
        ),
        (
            {"pause_timeout_seconds": 0},
            "custom_settings.canary.pause_timeout_seconds: must be a number from 1 to 604800",
        ),
        ({"on_pause_timeout": "wait"}, 'custom_settings.canary.on_pause_timeout: must be "abort" or "promote"'),
    ],
)
def test_bad_pause_settings_name_their_path(canary, message):
    refused = tuned(canary)

    assert isinstance(refused, Failure)
    assert refused.error.code is ErrorCode.VALIDATION_ERROR
    assert refused.error.message == message
    assert refused.error.context["field"] == message.split(":")[0]
