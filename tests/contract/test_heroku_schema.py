"""The validator the Heroku fake uses bites: bodies Heroku's own schema refuses are caught.

If these pass vacuously (a validator that accepts everything), every "no violation" the
heroku tests assert would mean nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.heroku_contract import contract
from uno.deployment.adapters.platforms.heroku import options, rendering, resources
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.platforms import Release

RELEASE_ID = "01234567-89ab-cdef-0123-456789abcdef"


def test_a_formation_update_with_a_field_heroku_does_not_know_is_refused():
    problems = contract().request_problems(
        "PATCH", "/apps/shop/formation", {"updates": [{"type": "web", "quantity": "2", "docker_image": "x"}]}
    )

    assert any("'docker_image' was unexpected" in problem for problem in problems)
    assert any("'2' is not of type 'integer'" in problem for problem in problems)


def test_a_rollback_without_a_release_and_a_config_var_with_a_bad_name_are_refused():
    assert contract().request_problems("POST", "/apps/shop/releases", {"to": RELEASE_ID})
    assert contract().request_problems("PATCH", "/apps/shop/config-vars", {"bad-name": "x"})
    assert contract().request_problems("PATCH", "/apps/shop/config-vars", {"GOOD": 1})
    assert contract().request_problems("DELETE", "/apps/shop/releases", None) == [
        "DELETE /apps/shop/releases is no link of Heroku's Platform API"
    ]


def test_an_answer_with_a_field_or_type_heroku_never_sends_is_refused():
    problems = contract().answer_problems("GET", "/apps/shop/releases", [{"id": RELEASE_ID, "version": "1", "x": 1}])

    assert any("'1' is not of type 'integer'" in problem for problem in problems)
    assert any("'x' was unexpected" in problem for problem in problems)  # strictProperties read as strict


def test_every_body_render_shows_is_one_heroku_accepts():
    values = {
        "app_name": "shop",
        "app_version": "1.0.0",
        "environment": "staging",
        "platform": "heroku",
        "strategy": "rolling",
        "custom_settings": {"app": "shop-staging", "source_dir": "."},
        "environment_variables": {"LOG_FORMAT": "json"},
        "secrets": ["SHOP_API_KEY"],
        "database": {
            "engine": "postgresql",
            "host": "db.example.com",
            "name": "shop",
            "user": "shop",
            "password_env_var": "SHOP_DB_PASSWORD",
        },
    }
    built = configuring.build(DeploymentId("cfg-1"), values, datetime(2026, 1, 1, tzinfo=UTC))
    assert built.is_success(), built
    chosen = options.options_for(built.value).value

    rendered = rendering.render(Release("dep-1", built.value), chosen)

    for item in rendered["objects"]:
        method, path = item["call"].split(" ", 1)
        assert contract().request_problems(method, path, item["body"]) == [], item
    bodies = {item["kind"]: item["body"] for item in rendered["objects"]}
    assert bodies["ConfigVars"]["SHOP_API_KEY"] == "<from $SHOP_API_KEY at deploy time>"
    assert bodies["ConfigVars"]["SHOP_DB_PASSWORD"] == "<from $SHOP_DB_PASSWORD at deploy time>"
    assert bodies["AppFeature"] == resources.preboot(True)
    wanted = {"type": "web", "quantity": built.value.resources.replicas_min, "size": options.dyno_size(built.value)}
    assert bodies["Formation"] == {"updates": [wanted]}
