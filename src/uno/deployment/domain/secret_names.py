"""Which environment variables look like they hold a secret.

A configuration is stored and shown to every reader, so it names the variables that
hold secrets (``secrets``) and never carries their values. ``environment_variables``
with a value is refused when the variable's name looks secret, or when the value embeds
a password in a URL (``scheme://user:password@host``), whatever the name.

A name is split into words at ``_`` (``DB_PASS`` -> ``DB``, ``PASS``) and looked at word
by word, so ``KEYBOARD_LAYOUT``, ``MONKEY`` and ``PASSENGER_COUNT`` are not secrets while
``API_KEY``, ``AUTH_KEY`` and ``KEY_FILE`` are. A few fused spellings (``APIKEY``,
``DBPASSWORD``) are caught by substring, and a word ending in ``TOKEN`` (``NPMTOKEN``)
is a token, while ``TOKENIZERS_PARALLELISM`` is not.
"""

from __future__ import annotations

import re

SECRET_WORDS = frozenset(
    {
        "PASS",
        "PASSWD",
        "PASSWORD",
        "PASSWORDS",
        "PASSPHRASE",
        "PGPASS",
        "PGPASSWORD",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "TOKENS",
        "KEY",
        "KEYS",
        "CREDENTIAL",
        "CREDENTIALS",
        "CREDS",
        "PRIVATE",
        "DSN",
    }
)
"""A name with one of these words (between ``_``) is a secret's name."""

SECRET_PARTS = ("PASSWORD", "PASSWD", "SECRET", "CREDENTIAL", "APIKEY", "PRIVATEKEY", "ACCESSKEY", "AUTHTOKEN")
"""Fused spellings found anywhere in a name."""

SECRET_NAMES = frozenset({"DATABASE_URL", "DB_URL"})
"""Names that conventionally carry a connection string with its password."""

_URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@")


def looks_secret(name: str) -> bool:
    upper = name.upper()
    words = upper.split("_")
    return (
        upper in SECRET_NAMES
        or upper.endswith(("_DATABASE_URL", "_DB_URL"))
        or any(word in SECRET_WORDS or word.endswith("TOKEN") for word in words)
        or any(part in upper for part in SECRET_PARTS)
    )


def embeds_password(value: str) -> bool:
    """``postgresql://app:hunter2@db/app`` does; ``https://example.com/a:b@c`` does not."""
    return bool(_URL_WITH_PASSWORD.search(value))


def refusal(name: str, value: str) -> str | None:
    """Why ``name=value`` may not be stored as a plain environment variable (``None``: it may)."""
    if looks_secret(name):
        return (
            f"{name} looks like a secret: list its name in 'secrets' and set it in the "
            "deployer's environment instead of storing its value"
        )
    if embeds_password(value):
        return (
            f"{name} holds a URL with a password (user:password@): put the URL in a variable "
            "listed in 'secrets' instead of storing it"
        )
    return None
