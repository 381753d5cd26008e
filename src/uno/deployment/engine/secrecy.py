"""What a program started by a step sees of the server's environment, and what records hide.

Invariants:
- a program never inherits the server's environment: the command runner starts it from
  a few baseline variables (``adapters.commands``) plus what its step passes, and a
  step passes only what its task or its configuration names (``configured_environment``);
- a variable is read from the server's environment for a program only because the
  configuration names it (in ``secrets``, or as the database's ``password_env_var``),
  and never one of the server's own ``UNO_DEPLOY_*`` settings, whatever a configuration says;
- every secret value the server knows of is replaced by ``***`` in what a task leaves
  behind (its message, its outputs, so its events and log lines too), before it is stored:
  the values of the variables a configuration names as secrets, of every variable whose
  name looks secret (in the server's environment or the task's own ``env``), the
  passwords in URL-valued variables (``UNO_DEPLOY_DATABASE_URL``), and
  ``Tools.known_secrets``. Values shorter than ``MIN_SECRET_LENGTH`` are left alone:
  hiding every ``1`` or ``on`` would make outputs unreadable and protect nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from uno.deployment.domain.configs import DeploymentConfig

SERVER_PREFIX = "UNO_DEPLOY_"
MASK = "***"
MIN_SECRET_LENGTH = 4
SECRET_LOOKING = re.compile(
    r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?|AUTH|DATABASE_URL|DSN)",
    re.IGNORECASE,
)


def named_variables(config: DeploymentConfig) -> list[str]:
    """The server variables a configuration asks for by name: its secrets and its database password."""
    names = list(config.secrets)
    if config.database is not None and config.database.password_env_var:
        names.append(config.database.password_env_var)
    return names


def configured_environment(config: DeploymentConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """What a configuration's own programs (tests, build, migrations) get on top of the baseline."""
    named = {
        name: environ[name]
        for name in named_variables(config)
        if name in environ and not name.upper().startswith(SERVER_PREFIX)
    }
    return {**config.environment_variables, **named}


def secret_values(config: DeploymentConfig | None, environ: Mapping[str, str], known: Iterable[str] = ()) -> list[str]:
    """Every value to hide, longest first (so a secret holding another is hidden whole)."""
    names = set(named_variables(config)) if config is not None else set()
    found = set(known)
    for name, value in environ.items():
        if name in names or SECRET_LOOKING.search(name):
            found.add(value)
        found.update(_url_passwords(value))
    for value in list(found):
        found.update(_url_passwords(value))
        found.add(quote(value, safe=""))  # as it appears inside a URL the step built
    return sorted((value for value in found if len(value) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def task_secrets(params: Mapping[str, Any]) -> list[str]:
    """The values a task's own ``env`` parameter gives to variables whose names look secret."""
    env = params.get("env")
    if not isinstance(env, dict):
        return []
    return [value for name, value in env.items() if isinstance(value, str) and SECRET_LOOKING.search(str(name))]


def _url_passwords(value: str) -> list[str]:
    if "://" not in value or "@" not in value:
        return []
    try:
        password = urlsplit(value).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""NUL and lone surrogates: a program may print them, and neither JSON in PostgreSQL nor UTF-8 can keep them."""


class Redactor:
    """Hides known secret values in the text and JSON-like values a task leaves behind."""

    def __init__(self, secrets: Iterable[str]) -> None:
        ordered = sorted({value for value in secrets if len(value) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._secrets = ordered
        self._pattern = re.compile("|".join(re.escape(value) for value in ordered)) if ordered else None

    @classmethod
    def for_run(cls, config: DeploymentConfig | None, environ: Mapping[str, str], known: Iterable[str]) -> Redactor:
        return cls(secret_values(config, environ, known))

    def also(self, secrets: Iterable[str]) -> Redactor:
        """This redactor, hiding ``secrets`` too."""
        more = [value for value in secrets if len(value) >= MIN_SECRET_LENGTH and value not in self._secrets]
        return Redactor([*self._secrets, *more]) if more else self

    def text(self, value: str) -> str:
        """``value`` with every secret hidden, and what no store can hold (NUL, a lone surrogate) replaced."""
        storable = _UNSTORABLE.sub("\ufffd", value)
        return self._pattern.sub(MASK, storable) if self._pattern is not None else storable

    def value(self, value: Any) -> Any:
        """``value`` with every secret hidden (and made storable, see ``text``), through dicts, lists and tuples."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(key) if isinstance(key, str) else key: self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value
