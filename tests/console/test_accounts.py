"""Named accounts, server-side sessions, the login throttle and the audit log, without
a browser (docs/ACCOUNTS.md): on a SQLite store and on a real `redis-server` shared
by two "boxes"."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from lookout.base.errors import ConfigError
from lookout.base.passwords import hash_password
from lookout.config.daemon import HttpConfig, LoginThrottleConfig
from lookout.config.users import User, UsersCache, UsersFile, change_users, load_users
from lookout.console.auth import Access, Identity, Role
from lookout.console.session_redis import RedisSecurityStore
from lookout.console.session_store import SecurityStore, SqliteSecurityStore
from lookout.console.throttle import LoginThrottle, Outcome
from lookout.report.audit import AuditEntry, AuditLog
from tests.console.test_server import Client, start
from tests.support.redis_server import RedisServer


class Clock:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def users_file(path: Path, *users: tuple[str, str]) -> Path:
    """`path` with the accounts (name, role), each with password NAME-pw-1234."""
    made = [User(name=n, role=r, password=hash_password(f"{n}-pw-1234")) for n, r in users]  # type: ignore[arg-type]
    change_users(path, lambda _: UsersFile(users=made))
    return path


def access(
    tmp_path: Path, store: SecurityStore, clock: Clock, users: Path | None = None, **console: object
) -> Access:
    http = HttpConfig.model_validate({"console": {"require_login": True, **console}})
    a = Access.from_config(http, "test", users, store)
    a.clock = clock
    a.users = UsersCache(users, clock=lambda: clock.t)  # re-read at once when the file changes
    return a


@pytest.fixture()
def people(tmp_path: Path) -> Path:
    return users_file(
        tmp_path / "users.yaml", ("wang.li", "operator"), ("李四", "admin"), ("zhao", "viewer")
    )


def test_the_users_file_is_hashes_only_and_private(people: Path) -> None:
    text = people.read_text()
    assert "wang.li-pw-1234" not in text and text.count("scrypt$") == 3
    assert people.stat().st_mode & 0o777 == 0o600
    users = load_users(people)
    assert users.find("WANG.LI") is not None and users.find("李四").role == "admin"  # type: ignore[union-attr]
    people.write_text(text.replace("role: viewer", "role: boss"))
    with pytest.raises(ConfigError, match=r"users\[2\]\.role"):
        load_users(people)
    people.write_text(text.replace("name: zhao", "name: <b>zhao</b>"))
    with pytest.raises(ConfigError, match=r"users\[2\]\.name"):
        load_users(people)


def test_an_account_logs_in_and_its_session_ends_by_logout(tmp_path: Path, people: Path) -> None:
    clock = Clock()
    store = SqliteSecurityStore(tmp_path / "outbox.db")
    a = access(tmp_path, store, clock, people)
    assert a.authenticate("wang.li", "wrong-password") is None
    assert a.authenticate("nobody", "wang.li-pw-1234") is None
    who = a.authenticate("Wang.Li", "wang.li-pw-1234")
    assert who == Identity("wang.li", Role.OPERATOR)
    assert a.authenticate("", "wang.li-pw-1234") is None  # no shared role password here
    session: dict[str, object] = {}
    a.start(session, who, "127.0.0.1")
    assert a.identity(session) == who
    # What the store keeps is not the cookie's id.
    sid = str(session["sid"])
    assert sid not in (tmp_path / "outbox.db").read_bytes().decode("latin-1")
    old = dict(session)
    a.end(session)
    assert session == {} and a.identity(old) is None


def test_idle_and_absolute_lifetime(tmp_path: Path, people: Path) -> None:
    clock = Clock()
    store = SqliteSecurityStore(tmp_path / "s.db")
    a = access(tmp_path, store, clock, people, session_idle_s=600, session_max_age_s=3600)
    s1: dict[str, object] = {}
    a.start(s1, Identity("wang.li", Role.OPERATOR), "127.0.0.1")
    clock.t += 599
    assert a.identity(s1) is not None  # used: the idle clock starts again
    for _ in range(5):  # active every 9 minutes ...
        clock.t += 540
        a._seen.clear()  # as another request, later
        assert a.identity(s1) is not None
    clock.t += 540  # ... but past one hour in all
    a._seen.clear()
    assert a.identity(s1) is None
    s2: dict[str, object] = {}
    a.start(s2, Identity("wang.li", Role.OPERATOR), "127.0.0.1")
    clock.t += 601
    a._seen.clear()
    assert a.identity(s2) is None


def test_a_disabled_account_or_new_password_ends_its_sessions(tmp_path: Path, people: Path) -> None:
    clock = Clock()
    a = access(tmp_path, SqliteSecurityStore(tmp_path / "s.db"), clock, people)
    op: dict[str, object] = {}
    a.start(op, Identity("wang.li", Role.OPERATOR), "127.0.0.1")
    adm: dict[str, object] = {}
    a.start(adm, Identity("李四", Role.ADMIN), "127.0.0.1")

    def edit(name: str, **changes: object) -> None:
        def change(users: UsersFile) -> UsersFile:
            u = users.find(name)
            assert u is not None
            return users.replace(u.model_copy(update=changes))

        change_users(people, change)
        clock.t += 2
        a._seen.clear()

    edit("wang.li", disabled=True, generation=1)
    assert a.identity(op) is None and a.identity(adm) is not None
    assert a.authenticate("wang.li", "wang.li-pw-1234") is None  # disabled: no login
    edit("李四", generation=1)  # `lookout users passwd` moves the generation on
    assert a.identity(adm) is None


def test_a_session_survives_a_restart(tmp_path: Path, people: Path) -> None:
    clock = Clock()
    store = SqliteSecurityStore(tmp_path / "s.db")
    a = access(tmp_path, store, clock, people)
    secret = store.secret()
    session: dict[str, object] = {}
    a.start(session, Identity("zhao", Role.VIEWER), "127.0.0.1")
    store.close()
    again = SqliteSecurityStore(tmp_path / "s.db")
    b = access(tmp_path, again, clock, people)
    assert again.secret() == secret  # the cookie's signature still holds
    assert b.identity(session) == Identity("zhao", Role.VIEWER)


def run_guesses(
    throttle: LoginThrottle, n: int, check: Callable[[], Identity | None], account: str = "wang.li"
) -> list[Outcome | None]:
    async def all_at_once() -> list[Outcome | None]:
        tries = [throttle.attempt(account, "10.1.1.1", check) for _ in range(n)]
        return [gate.outcome for _, gate in await asyncio.gather(*tries)]

    return asyncio.run(all_at_once())


def test_twenty_guesses_at_once_are_checked_one_by_one_and_locked_out(tmp_path: Path) -> None:
    clock = Clock()
    store = SqliteSecurityStore(tmp_path / "s.db")
    throttle = LoginThrottle(store, LoginThrottleConfig(delay_s=0, lockout_s=900), clock)
    checked: list[int] = []

    def wrong() -> Identity | None:
        checked.append(1)
        return None

    outcomes = run_guesses(throttle, 20, wrong)
    assert len(checked) == 5  # the 5th failure locks the account: the rest cost no hash
    assert outcomes.count(Outcome.WRONG) == 5 and outcomes.count(Outcome.LOCKED) == 15
    right = Identity("wang.li", Role.OPERATOR)
    assert run_guesses(throttle, 1, lambda: right) == [Outcome.LOCKED]
    assert len(checked) == 5
    clock.t += 901
    assert run_guesses(throttle, 1, lambda: right) == [Outcome.OK]
    assert throttle.outcomes == {"ok": 1, "wrong": 5, "delayed": 0, "locked": 16}
    assert throttle.lockouts == {"account": 1, "address": 0}


def test_the_delay_doubles_after_each_failure(tmp_path: Path) -> None:
    clock = Clock()
    throttle = LoginThrottle(
        SqliteSecurityStore(tmp_path / "s.db"), LoginThrottleConfig(delay_s=1), clock
    )
    waits = []
    for _ in range(4):
        (outcome,) = run_guesses(throttle, 1, lambda: None)
        assert outcome is Outcome.WRONG
        (outcome,) = run_guesses(throttle, 1, lambda: None)
        assert outcome is Outcome.DELAYED
        ready = 0.0
        while run_guesses(throttle, 1, lambda: Identity("x", Role.VIEWER))[0] is Outcome.DELAYED:
            clock.t += 0.25
            ready += 0.25
        waits.append(ready)
        # The right password got in and cleared the account's count: start again.
    assert waits == [1.0, 1.0, 1.0, 1.0]
    retry = []
    for _ in range(3):  # without a success in between: 1, 2, 4 s
        run_guesses(throttle, 1, lambda: None)
        gate = asyncio.run(throttle.attempt("wang.li", "10.1.1.1", lambda: None))[1]
        assert gate.outcome is Outcome.DELAYED
        retry.append(round(gate.retry_after_s, 3))
        clock.t += gate.retry_after_s
    assert retry == [1.0, 2.0, 4.0]


def test_one_address_guessing_many_accounts_is_locked(tmp_path: Path) -> None:
    clock = Clock()
    cfg = LoginThrottleConfig(delay_s=0, address_failures=20)
    throttle = LoginThrottle(SqliteSecurityStore(tmp_path / "s.db"), cfg, clock)
    for i in range(20):
        assert run_guesses(throttle, 1, lambda: None, f"user{i}") == [Outcome.WRONG]
    assert run_guesses(throttle, 1, lambda: None, "someone-else") == [Outcome.LOCKED]
    assert throttle.lockouts["address"] == 1


def test_two_boxes_share_sessions_and_failures_through_redis(
    tmp_path: Path, people: Path, redis_server: RedisServer
) -> None:
    clock = Clock()

    def box() -> tuple[Access, LoginThrottle]:
        client = redis.Redis.from_url(redis_server.url, decode_responses=True)
        store = RedisSecurityStore(client, "lookout")
        a = access(tmp_path, store, clock, people)
        return a, LoginThrottle(store, LoginThrottleConfig(delay_s=0), clock)

    (a1, t1), (a2, t2) = box(), box()
    assert a1.store.secret() == a2.store.secret()  # type: ignore[union-attr]
    session: dict[str, object] = {}
    a1.start(session, Identity("wang.li", Role.OPERATOR), "127.0.0.1")
    assert a2.identity(session) == Identity("wang.li", Role.OPERATOR)
    a1.end(dict(session))  # logout on box 1 ...
    a2._seen.clear()  # ... is seen by box 2 at its next look (RECHECK_S)
    assert a2.identity(session) is None
    for throttle in (t1, t2, t1, t2, t1):  # guesses spread over both boxes add up
        assert run_guesses(throttle, 1, lambda: None) == [Outcome.WRONG]
    assert run_guesses(t2, 1, lambda: None) == [Outcome.LOCKED]
    s2: dict[str, object] = {}
    a1.start(s2, Identity("zhao", Role.VIEWER), "127.0.0.1")
    assert a2.end_user("zhao") == 1
    a1._seen.clear()
    assert a1.identity(s2) is None


def test_the_audit_log_is_append_only_and_chained(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    log = AuditLog(db)
    e = log.record(
        AuditEntry(
            "wang.li",
            "operator",
            "127.0.0.1",
            "verdict",
            "case-1",
            {"status": "confirmed"},
            t=1_800_000_000.0,
        )
    )
    log.record(AuditEntry("李四", "admin", "127.0.0.1", "login", "李四"))
    assert e.seq == 1 and e.json(ZoneInfo("Asia/Shanghai"))["at"].endswith("+08:00")
    assert [x.who for x in log.entries()] == ["wang.li", "李四"]
    assert [x.who for x in log.entries(action="verdict")] == ["wang.li"]
    assert [x.seq for x in log.entries(start=1_799_999_999.0)] == [1]
    assert log.verify() is None
    raw = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("UPDATE audit SET who = 'x' WHERE seq = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("DELETE FROM audit")
    # Behind lookout's back (the triggers dropped by hand): the chain shows it.
    raw.execute("DROP TRIGGER audit_no_update")
    raw.execute('UPDATE audit SET detail = \'{"status": "false_alarm"}\' WHERE seq = 1')
    raw.commit()
    assert log.verify() == 1
    log.close()
    assert e.when(UTC).startswith("2027-01-15")


def test_each_person_gets_their_role_and_language_in_the_console(
    tmp_path: Path, people: Path
) -> None:
    def set_language(users: UsersFile) -> UsersFile:
        wang = users.find("wang.li")
        assert wang is not None
        return users.replace(wang.model_copy(update={"language": "en"}))

    change_users(people, set_language)
    parts, _ = start(tmp_path, people, require_login=True, language="zh-CN")
    zh = {"Accept-Language": "zh-CN,zh;q=0.9"}
    try:
        wang, li, zhao = Client(parts.port), Client(parts.port), Client(parts.port)
        assert wang.call("/api/cameras")[0] == 401
        assert "{{" not in wang.call("/login")[2].decode()  # every marker filled
        assert wang.call("/login", wang.login_form("wrong-password", "wang.li"), zh)[0] == 401
        assert wang.login("wang.li-pw-1234", "wang.li") == 303
        page = wang.call("/cameras", None, zh)[2].decode()
        assert '<html lang="en">' in page  # his language before the browser's
        assert '<meta name="user" content="wang.li">' in page
        session = json.loads(wang.call("/api/session")[2])
        assert (session["user"], session["role"]) == ("wang.li", "operator")
        assert json.loads(wang.call("/api/audit")[2])["reason"] == "admin_only"
        assert wang.call("/audit")[0] == 403

        assert zhao.login("zhao-pw-1234", "zhao") == 303
        token = json.loads(zhao.call("/api/session")[2])["csrf"]
        ack = zhao.call("/api/cameras/cam1/acknowledge", b"{}", {"X-CSRF-Token": token})
        assert ack[0] == 403 and json.loads(ack[2])["reason"] == "read_only"

        assert li.login("李四-pw-1234", "李四") == 303
        assert '<html lang="zh-CN">' in li.call("/cameras", None, zh)[2].decode()
        token = json.loads(li.call("/api/session")[2])["csrf"]
        ack = li.call("/api/cameras/cam1/acknowledge", b"{}", {"X-CSRF-Token": token})
        assert ack[0] == 200, ack[2]
        rows = json.loads(li.call("/api/audit")[2])["entries"]
        seen = [(r["who"], r["action"]) for r in rows]
        assert seen[0] == ("李四", "acknowledge") and rows[0]["target"] == "cam1"
        for entry in [("wang.li", "login_failed"), ("wang.li", "login"), ("zhao", "login")]:
            assert entry in seen
        assert rows[0]["at"].endswith("+00:00")  # the site's zone (UTC without a site here)
        assert li.call("/api/audit?action=%3Cb%3E")[0] == 400
        assert li.call("/api/audit?from=2026-13-01")[0] == 400
    finally:
        parts.stop()
