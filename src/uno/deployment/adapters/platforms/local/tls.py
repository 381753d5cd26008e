"""TLS at the local router: the certificate it serves for ``network.domain``, and its context.

Why: ``network.use_https`` promised HTTPS, and the router spoke plain HTTP (a TLS client
timed out in its handshake while the deploy said ``succeeded``). The router now
terminates TLS itself; replicas still speak plain HTTP behind it, and are probed so.

Where the certificate comes from:
- ``custom_settings.tls_cert_file`` and ``tls_key_file`` (PEM): checked when the
  configuration is (readable, a matching pair), read again by a restarted agent;
- else, for development, a self-signed certificate for the domain (``subjectAltName``),
  made once per application, environment and domain in the state directory by the
  ``openssl`` program (run as an argument list) and reused after. No ``openssl``: the
  deploy fails and says to configure a certificate.

Invariants: a private key is never logged nor copied into ``agent.json`` (only its path);
a generated key file is readable by its owner only.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
from pathlib import Path

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success

OPENSSL_TIMEOUT = 60.0
VALID_DAYS = 825  # the longest validity clients accept for a server certificate
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class EncryptedKey(ValueError):
    """The key file is encrypted: nobody is there to type its passphrase (OpenSSL would ask on the terminal)."""


def _no_passphrase() -> bytes:
    raise EncryptedKey("the key file is encrypted: give an unencrypted key (readable by the deployer only)")


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context serving ``cert_file`` (the chain) with ``key_file``: TLS 1.2 and up, HTTP/1.1 only.

    Raises ``ssl.SSLError`` or ``OSError`` when the files are missing, unreadable or no pair,
    ``EncryptedKey`` (a ``ValueError``) when the key asks for a passphrase.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(cert_file, key_file, password=_no_passphrase)
    return context


def load(context: ssl.SSLContext, cert_file: str, key_file: str) -> None:
    """Serve ``cert_file`` and ``key_file`` from ``context``'s next handshake on (a renewed certificate)."""
    context.load_cert_chain(cert_file, key_file, password=_no_passphrase)


def pair_problem(cert_file: str, key_file: str) -> str | None:
    """Why ``cert_file`` and ``key_file`` cannot be served, or None when they can."""
    for path in (cert_file, key_file):
        if not os.access(path, os.R_OK) or not os.path.isfile(path):
            return f"{path} is not a readable file"
    try:
        server_context(cert_file, key_file)
    except EncryptedKey as error:
        return f"{key_file}: {error}"
    except ssl.SSLError as error:
        reason = error.reason or str(error)
        if "MISMATCH" in reason.upper():
            return f"the key {key_file} does not belong to the certificate {cert_file}"
        return f"{cert_file} and {key_file} are not a PEM certificate and its key ({reason})"
    return None


def self_signed(state_dir: Path, app: str, environment: str, domain: str) -> Result[tuple[str, str]]:
    """The development certificate and key for ``domain`` (made once, then reused), as file paths."""
    folder = state_dir / "tls"
    stem = _UNSAFE.sub("_", f"{app}-{environment}-{domain}")
    cert, key = folder / f"{stem}.crt", folder / f"{stem}.key"
    if cert.is_file() and key.is_file() and pair_problem(str(cert), str(key)) is None:
        return Success((str(cert), str(key)))
    program = shutil.which("openssl")
    if program is None:
        return _failure(
            "network.use_https: no certificate is configured and the openssl program, which makes a self-signed "
            "one for development, is not installed: set custom_settings.tls_cert_file and tls_key_file"
        )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial_cert, partial_key = cert.with_suffix(".crt.part"), key.with_suffix(".key.part")
    argv = [
        program,
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-sha256",
        "-days",
        str(VALID_DAYS),
        "-subj",
        f"/CN={domain}",
        "-addext",
        f"subjectAltName=DNS:{domain}",
        "-keyout",
        str(partial_key),
        "-out",
        str(partial_cert),
    ]
    old_mask = os.umask(0o077)
    try:
        made = subprocess.run(argv, capture_output=True, timeout=OPENSSL_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return _failure(f"network.use_https: openssl could not make a self-signed certificate: {error}")
    finally:
        os.umask(old_mask)
    if made.returncode != 0:
        said = made.stderr.decode(errors="replace").strip().splitlines()
        return _failure(f"network.use_https: openssl failed ({said[-1] if said else made.returncode})")
    os.replace(partial_key, key)
    os.replace(partial_cert, cert)
    return Success((str(cert), str(key)))


def _failure(message: str) -> Failure:
    return Failure(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, {"field": "network.use_https"}))
