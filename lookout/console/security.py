"""The console's security parts, made once per server (docs/ACCOUNTS.md): the
accounts file, the store of sessions and login failures (SQLite beside the outbox, or
Redis for a fleet), the audit log, and the login throttle."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from lookout.base.errors import ConfigError
from lookout.config.daemon import HttpConfig
from lookout.config.fleet import ClusterConfig
from lookout.console.auth import Access
from lookout.console.session_redis import RedisSecurityStore
from lookout.console.session_store import SecurityStore, SqliteSecurityStore
from lookout.console.throttle import LoginThrottle
from lookout.report.audit import AuditLog

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SecuritySetup:
    """Where the daemon keeps things: `db` the SQLite file of sessions and the audit
    log (the outbox database, else the console's), `users` the accounts file, and the
    cluster's Redis for a fleet."""

    db: Path
    users: Path | None
    cluster: ClusterConfig | None = None


@dataclass
class Security:
    access: Access
    store: SecurityStore
    audit: AuditLog
    throttle: LoginThrottle
    secret: str

    def close(self) -> None:
        self.audit.close()
        self.store.close()


def open_security(http: HttpConfig, setup: SecuritySetup, source: str = "config") -> Security:
    """Open the store and the audit log and read the accounts; errors are one line
    (ConfigError) naming what failed."""
    c = http.console
    store: SecurityStore
    if setup.cluster is not None:
        client, target = setup.cluster.connect()
        try:
            client.ping()
        except Exception as exc:  # redis errors and OSError alike: one line
            raise ConfigError(
                f"cluster.url: console sessions: cannot reach {target.where}: "
                f"{target.clean(str(exc))}"
            ) from None
        store = RedisSecurityStore(client, setup.cluster.prefix)
    else:
        store = SqliteSecurityStore(setup.db)
    try:
        store.prune(time.time(), c.session_max_age_s)
        access = Access.from_config(http, source, setup.users, store)
        audit = AuditLog(setup.db)
        secret = store.secret()
    except BaseException:
        store.close()
        raise
    throttle = LoginThrottle(store, c.login_throttle, time.time)
    if access.login_required:
        n = len([u for u in access.users.current().users if not u.disabled])
        log.info("console: login required; %d account(s) in %s", n, setup.users)
    return Security(access, store, audit, throttle, secret)
