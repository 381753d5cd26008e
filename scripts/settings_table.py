"""Write the table of settings x platforms in docs/reference/configuration.md from the declarations.

Each driver declares what it honours (``adapters/platforms/*/honoured.py``), the engine what
it honours everywhere (``engine/honoured.py``); this writes them between the markers, so
the page cannot drift from the code (``tests/unit/test_settings_table.py`` fails when it has).

    python scripts/settings_table.py           # rewrite the table
    python scripts/settings_table.py --check   # exit 1 if the page differs
"""

from __future__ import annotations

import sys
from pathlib import Path

from uno.deployment.adapters.platforms.aws import honoured as aws_honoured
from uno.deployment.adapters.platforms.digitalocean import honoured as digitalocean_honoured
from uno.deployment.adapters.platforms.gcp import honoured as gcp_honoured
from uno.deployment.adapters.platforms.heroku import honoured as heroku_honoured
from uno.deployment.adapters.platforms.kubernetes import honoured as kubernetes_honoured
from uno.deployment.adapters.platforms.local import honoured as local_honoured
from uno.deployment.domain import settings_catalogue
from uno.deployment.domain.enums import DeploymentPlatform
from uno.deployment.engine import honoured as engine_honoured
from uno.deployment.ports.platforms import SettingsDeclaration

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "configuration.md"
BEGIN = "<!-- settings-table: begin (written by scripts/settings_table.py; do not edit) -->"
END = "<!-- settings-table: end -->"
DRIVERS = (
    local_honoured.DECLARATION,
    kubernetes_honoured.DECLARATION,
    aws_honoured.DECLARATION,
    gcp_honoured.DECLARATION,
    heroku_honoured.DECLARATION,
    digitalocean_honoured.DECLARATION,
)
WHEN = {
    "on": "on",
    "set": "set (not empty)",
    "given": "written by you (profile values do not count)",
    "always": "always",
}


def _undriven() -> list[str]:
    driven = {declaration.platform for declaration in DRIVERS}
    return [platform.value for platform in DeploymentPlatform if platform.value not in driven | {"custom"}]


def _cell(declaration: SettingsDeclaration, path: str) -> str:
    support = declaration.settings[path]
    return f"yes: {support.note}" if support.honoured else f"**no**: {support.note}"


def render() -> str:
    others = _undriven()
    lines = [
        BEGIN,
        "",
        "A setting marked **no** is reported by `config validate` (a warning), `plan`",
        "(`not_honoured`) and `deploy` (the record's `details[\"not_honoured\"]`, the CLI's output)",
        "when the configuration asks for it, and refused under strict mode (the default in",
        "`production`; `--strict/--no-strict`, `strict=`, `UNO_DEPLOY_STRICT_ENVIRONMENTS`).",
        f"Platforms without a driver yet ({', '.join(others)}) honour none of these: each is",
        "reported as `no driver for <platform> yet`. A `custom` plugin declares its own.",
        "",
        "| Setting | Asked for when | " + " | ".join(d.platform for d in DRIVERS) + " |",
        "|---|---|" + "---|" * len(DRIVERS),
    ]
    for setting in settings_catalogue.PLATFORM:
        cells = " | ".join(_cell(declaration, setting.path) for declaration in DRIVERS)
        lines.append(f"| `{setting.path}` | {WHEN.get(setting.when, setting.when)} | {cells} |")
    deprecated = [
        f"`{declaration.platform}`: `custom_settings.{key}` (use `{path}`)"
        for declaration in DRIVERS
        for key, path in sorted(declaration.deprecated.items())
    ]
    if deprecated:
        lines += [
            "",
            "Deprecated keys, still read (in place of the setting while set) and reported by `config validate`,",
            '`plan` (`deprecated`) and `deploy` (`details["deprecated"]`), never refused: ',
            "; ".join(deprecated) + ".",
        ]
    lines += [
        "",
        "Honoured by the engine on every platform (declared once, in `engine/honoured.py`). The",
        "exceptions are reported as above: an enabled test suite without its command, and",
        "`security.scan_images` when no scanner can run (no `security.scan_command`, and no",
        "default scanner on the platform):",
        "",
        "| Setting | What is done with it |",
        "|---|---|",
    ]
    lines += [f"| `{path}` | {engine_honoured.SETTINGS[path].note} |" for path in settings_catalogue.ENGINE]
    lines += ["", END]
    return "\n".join(lines)


def written(page: str) -> str:
    start, end = page.index(BEGIN), page.index(END) + len(END)
    return page[:start] + render() + page[end:]


def main(arguments: list[str]) -> int:
    page = PAGE.read_text(encoding="utf-8")
    wanted = written(page)
    if "--check" in arguments:
        if wanted != page:
            print(f"{PAGE}: the settings table is stale: run python scripts/settings_table.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
