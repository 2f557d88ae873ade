"""HTTPS for the daemon's server: the `ssl.SSLContext` of `daemon.http.tls`.

The key arrives as PEM text (a `${file:…}` reference resolved at load) or as the path
of a key file. `load_cert_chain` reads files only, so PEM text is written to a private
temporary file (mode 0600) that is removed as soon as it is loaded. Errors are one
line naming `daemon.http.tls.cert` or `daemon.http.tls.key`; none holds the key's
text. How to set it up: docs/CONSOLE.md, "TLS and Host names".
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

from lookout.base.errors import ConfigError
from lookout.config.daemon import TlsConfig, is_pem

CERT = "daemon.http.tls.cert"
KEY = "daemon.http.tls.key"
#: Sent with every response over TLS: browsers use HTTPS only for a year.
HSTS = (b"strict-transport-security", b"max-age=31536000")


def server_context(tls: TlsConfig) -> ssl.SSLContext:
    """A server-side context (TLS 1.2 at least) holding the certificate chain and key."""
    cert = Path(tls.cert)
    _check_certificates(cert)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    key = tls.key.get_secret_value()
    if not is_pem(key):
        _load(ctx, cert, Path(key), f"{KEY}: {key}")
        return ctx
    fd, name = tempfile.mkstemp(prefix="lookout-tls-", suffix=".pem")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii", errors="replace") as f:
            f.write(key.strip() + "\n")
        _load(ctx, cert, Path(name), KEY)
    finally:
        os.unlink(name)
    return ctx


def _check_certificates(cert: Path) -> None:
    """Raise ConfigError unless `cert` is a readable file of PEM certificates."""
    if not cert.is_file():
        raise ConfigError(f"{CERT}: {cert} not found")
    try:
        ssl.create_default_context(cafile=str(cert))
    except (ssl.SSLError, ValueError):
        raise ConfigError(f"{CERT}: {cert} holds no PEM certificate") from None
    except OSError as exc:
        raise ConfigError(f"{CERT}: cannot read {cert}: {exc.strerror or 'error'}") from None


def _encrypted() -> bytes:
    # Called by OpenSSL instead of prompting on the terminal for a passphrase.
    raise ConfigError(f"{KEY}: the key is encrypted; give it without a passphrase")


def _load(ctx: ssl.SSLContext, cert: Path, key: Path, what: str) -> None:
    """`ctx.load_cert_chain` with one-line errors; `what` names the key (the key
    setting, and its path when it is a file) and is the only thing said about it."""
    try:
        ctx.load_cert_chain(cert, key, password=_encrypted)
    except FileNotFoundError:
        raise ConfigError(f"{what}: not found") from None
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc.reason):
            raise ConfigError(f"{what}: does not match the certificate {cert}") from None
        raise ConfigError(f"{what}: not a PEM private key") from None
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read: {exc.strerror or 'error'}") from None
