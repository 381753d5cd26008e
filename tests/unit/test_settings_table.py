"""The settings x platforms table in docs/reference/configuration.md is the declarations' own."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from uno.deployment.adapters.platforms import aws, digitalocean, gcp, heroku, kubernetes
from uno.deployment.adapters.platforms.aws import honoured as aws_honoured
from uno.deployment.adapters.platforms.digitalocean import honoured as digitalocean_honoured
from uno.deployment.adapters.platforms.gcp import honoured as gcp_honoured
from uno.deployment.adapters.platforms.heroku import honoured as heroku_honoured
from uno.deployment.adapters.platforms.kubernetes import honoured as kubernetes_honoured
from uno.deployment.adapters.platforms.local import confinement
from uno.deployment.adapters.platforms.local import honoured as local_honoured
from uno.deployment.adapters.platforms.local.driver import LocalDriver

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "settings_table.py"


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_table", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_is_what_the_script_writes():
    table = script()
    page = table.PAGE.read_text(encoding="utf-8")

    assert table.written(page) == page, "run: python scripts/settings_table.py"
    assert "| `monitoring.enable_tracing` | on | **no**: tracing arrives with the observability work" in page


def test_the_table_is_made_from_what_the_drivers_in_use_declare(tmp_path: Path):
    """The local driver's declaration is the documented one, with this machine's mechanisms for confinement."""
    local = LocalDriver(tmp_path).declaration
    assert local == local_honoured.declaration_for(confinement.probe())
    machine_dependent = {path for path in local.settings if local.settings[path] != local_honoured.SETTINGS[path]}
    assert machine_dependent <= set(local_honoured.MACHINE_DEPENDENT)
    assert local.custom_settings == local_honoured.DECLARATION.custom_settings
    assert kubernetes.make_driver({}).declaration is kubernetes_honoured.DECLARATION  # type: ignore[attr-defined]
    assert aws.make_driver({}).declaration is aws_honoured.DECLARATION  # type: ignore[attr-defined]
    assert heroku.make_driver({}).declaration is heroku_honoured.DECLARATION  # type: ignore[attr-defined]
    assert digitalocean.make_driver({}).declaration is digitalocean_honoured.DECLARATION  # type: ignore[attr-defined]
    assert gcp.make_driver({}).declaration is gcp_honoured.DECLARATION  # type: ignore[attr-defined]
    assert script().DRIVERS == (
        local_honoured.DECLARATION,
        kubernetes_honoured.DECLARATION,
        aws_honoured.DECLARATION,
        gcp_honoured.DECLARATION,
        heroku_honoured.DECLARATION,
        digitalocean_honoured.DECLARATION,
    )
