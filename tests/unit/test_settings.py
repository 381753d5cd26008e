"""Where the settings come from: code, ``UNO_DEPLOY_*`` variables, a TOML file, the defaults.

The sources are read by ``uno.deployment.settings`` itself (no pydantic-settings), and the
CLI's listings ask it for the store alone without loading the model (``plain_store_url``):
both must read the variables exactly as ``Settings()`` does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from uno.deployment import settings
from uno.deployment.settings import Settings


def test_the_light_list_of_fields_is_the_models():
    assert set(settings.FIELDS) == set(Settings.model_fields)


def test_variables_are_read_in_any_case_json_and_comma_separated(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("uno_deploy_strict_environments", "dev, staging")
    monkeypatch.setenv("UNO_DEPLOY_QUEUE_POLICIES", '{"production": "reject"}')
    monkeypatch.setenv("UNO_DEPLOY_AUTO_MIGRATE", "false")
    monkeypatch.setenv("UNO_DEPLOY_LEASE_TTL_SECONDS", "12.5")

    chosen = Settings()

    assert chosen.strict_environments == ["dev", "staging"]
    assert chosen.queue_policies == {"production": "reject"}
    assert (chosen.auto_migrate, chosen.lease_ttl_seconds) == (False, 12.5)
    assert Settings(auto_migrate=True).auto_migrate is True  # code over the environment


def test_a_bad_value_is_refused_with_its_field_and_a_bad_json_variable_is_named(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UNO_DEPLOY_MAX_PARALLEL_TASKS", "0")
    with pytest.raises(ValidationError, match="max_parallel_tasks"):
        Settings()
    monkeypatch.delenv("UNO_DEPLOY_MAX_PARALLEL_TASKS")
    monkeypatch.setenv("UNO_DEPLOY_QUEUE_POLICIES", "{production: reject")
    with pytest.raises(ValueError, match="UNO_DEPLOY_QUEUE_POLICIES is not a JSON object"):
        Settings()


def test_an_unknown_key_in_the_settings_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    named = tmp_path / "uno-deploy.toml"
    named.write_text("max_paralel_tasks = 3\n", encoding="utf-8")
    monkeypatch.setenv("UNO_DEPLOY_SETTINGS_FILE", str(named))

    with pytest.raises(ValidationError, match="max_paralel_tasks"):
        Settings()


@pytest.mark.parametrize(
    ("environ", "answer"),
    [
        ({}, (True, None)),
        ({"UNO_DEPLOY_DATABASE_URL": " sqlite:///x.db "}, (True, "sqlite:///x.db")),
        ({"uno_deploy_database_url": "memory://"}, (True, "memory://")),
        ({"UNO_DEPLOY_DATABASE_URL": ""}, (True, None)),
        ({"UNO_DEPLOY_DATABASE_URL": "mysql://root@h/db"}, (False, None)),  # Settings() says why
        ({"UNO_DEPLOY_DATABASE_URL": "x.db", "UNO_DEPLOY_LOG_LEVEL": "INFO"}, (False, None)),
        ({"UNO_DEPLOY_SETTINGS_FILE": "/etc/uno-deploy.toml"}, (False, None)),
        ({"UNO_DEPLOY_SERVER": "http://h", "UNO_DEPLOY_TOKEN": "t", "HOME": "/root"}, (True, None)),
        (
            {"UNO_DEPLOY_BACKUP_DIR": "", "UNO_DEPLOY_LOCAL_DIR": "x\x00y", "UNO_DEPLOY_DATABASE_URL": "a.db"},
            (True, "a.db"),
        ),
    ],
)
def test_the_plain_store_url_is_settings_own_or_no_answer(environ: dict[str, str], answer: tuple[bool, str | None]):
    assert settings.plain_store_url(environ) == answer


def test_the_plain_store_url_agrees_with_the_model(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("UNO_DEPLOY_BACKUP_DIR", "")  # any text is a directory to the model too
    for url in ("sqlite:////tmp/a.db", "relative/b.db", "postgresql://u@h/db", "memory://"):
        monkeypatch.setenv("UNO_DEPLOY_DATABASE_URL", url)
        assert settings.plain_store_url() == (True, Settings().database_url)
