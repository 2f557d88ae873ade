"""`lookout users add|passwd|disable|enable|list`: the console's named accounts
(docs/ACCOUNTS.md).

    lookout users add NAME --role viewer|operator|admin [--language zh-CN|en]
        (--config FILE | --file USERS) [--password '${VAR}' | '${file:PATH}']
    lookout users passwd NAME (--config FILE | --file USERS) [--password REF]
    lookout users disable|enable NAME (--config FILE | --file USERS)
    lookout users list (--config FILE | --file USERS) [--json]

The file is `daemon.http.console.users_file` of `--config` (default users.yaml beside
it), or `--file`. A password is read without echo from the terminal (asked twice), or
as one line from a pipe, or from a `${…}` reference (lookout/base/secrets.py) — never
as a plain value on the command line, where the shell's history and `ps` would keep
it. Only its scrypt hash is written. `passwd`, `disable` and a role change end the
account's sessions on every box at its next request (the account's generation moves
on). With `--config` each change is also written to the audit log."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

from lookout.base.errors import ConfigError
from lookout.base.passwords import MIN_PASSWORD_LEN, hash_password, read_password
from lookout.base.secrets import substitute
from lookout.cli.parsing import subcommands
from lookout.config.users import ROLES, User, UsersFile, change_users, load_users, now_iso


def _where(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", type=Path, help="Configuration YAML (its users_file).")
    where.add_argument("--file", type=Path, help="The users file itself.")


def _password_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password",
        metavar="REF",
        help="A ${VAR} or ${file:PATH} reference (default: asked without echo / stdin).",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = subcommands(parser, "users_command")
    p = group.add_parser("add", help="Add an account.")
    p.add_argument("name", help="Login name (letters, digits, - _ .).")
    p.add_argument("--role", choices=ROLES, required=True, help="What the person may do.")
    p.add_argument("--language", choices=("zh-CN", "en"), help="The person's console language.")
    _where(p)
    _password_arg(p)
    p = group.add_parser("passwd", help="Set an account's password; ends its sessions.")
    p.add_argument("name")
    _where(p)
    _password_arg(p)
    p = group.add_parser("role", help="Change an account's role; ends its sessions.")
    p.add_argument("name")
    p.add_argument("role", choices=ROLES)
    _where(p)
    for name, what in (
        ("disable", "Disable an account; ends its sessions."),
        ("enable", "Enable a disabled account."),
    ):
        p = group.add_parser(name, help=what)
        p.add_argument("name")
        _where(p)
    p = group.add_parser("list", help="List the accounts (no hashes).")
    _where(p)
    p.add_argument("--json", action="store_true", help="Print JSON.")


def _password(ref: str | None) -> str:
    if ref is None:
        password = read_password(confirm=True)
    elif not ref.startswith("${"):
        raise ConfigError(
            "--password: give a ${VAR} or ${file:PATH} reference, not the password itself"
        )
    else:
        password = substitute(ref, Path.cwd())
    if len(password) < MIN_PASSWORD_LEN:
        raise ConfigError(f"password: at least {MIN_PASSWORD_LEN} characters")
    return password


def _paths(args: argparse.Namespace) -> tuple[Path, Path | None]:
    """The users file, and the audit log's database (with --config)."""
    if args.file is not None:
        return args.file, None
    from lookout.cases.remote import outbox_path
    from lookout.config.app import load_config

    cfg = load_config(args.config)
    users = cfg.daemon.http.console.users_file
    if not users:
        raise ConfigError(f"{args.config}: daemon.http.console.users_file is empty")
    out_dir = cfg.path(cfg.daemon.out_dir)
    return cfg.path(users), outbox_path(cfg.sinks, out_dir) or out_dir / "console.db"


def _account(users: UsersFile, name: str, path: Path) -> User:
    user = users.find(name)
    if user is None:
        raise ConfigError(f"{path}: no account {name!r}")
    return user


def run(args: argparse.Namespace) -> int:
    path, audit_db = _paths(args)
    command, name = args.users_command, getattr(args, "name", "")
    if command == "list":
        return _list(load_users(path), args.json)
    detail: dict[str, object] = {}
    if command in ("add", "passwd"):
        if command == "passwd":
            _account(load_users(path), name, path)  # before asking for a password
        secret = hash_password(_password(args.password))

    def edit(users: UsersFile) -> UsersFile:
        if command == "add":
            if users.find(name) is not None:
                raise ConfigError(f"{path}: account {name!r} exists (use passwd or role)")
            try:
                new = User(
                    name=name,
                    role=args.role,
                    password=secret,
                    language=args.language,
                    created=now_iso(),
                )
            except ValueError as exc:
                raise ConfigError(f"users add: {name!r}: not a valid login name") from exc
            detail.update(role=args.role)
            return UsersFile(users=[*users.users, new])
        old = _account(users, name, path)
        changes: dict[str, object] = {"generation": old.generation + 1}
        if command == "passwd":
            changes["password"] = secret
        elif command == "role":
            changes["role"] = args.role
            detail.update(role=args.role, was=old.role)
        else:
            changes["disabled"] = command == "disable"
            if command == "enable":
                changes["generation"] = old.generation  # nothing to end
        return users.replace(old.model_copy(update=changes))

    change_users(path, edit)
    print(f"{command}: {name} ({path})")
    if audit_db is not None:
        from lookout.report.audit import AuditEntry, AuditLog

        log = AuditLog(audit_db)
        try:
            who = f"{getpass.getuser()} (cli)"
            action = "user_role" if command == "role" else f"user_{command}"
            log.record(AuditEntry(who, "admin", "cli", action, name, detail))
        finally:
            log.close()
    return 0


def _list(users: UsersFile, as_json: bool) -> int:
    rows = [
        {
            "name": u.name,
            "role": u.role,
            "language": u.language,
            "disabled": u.disabled,
            "created": u.created,
        }
        for u in users.users
    ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    for r in rows:
        state = "disabled" if r["disabled"] else "active"
        print(f"{r['name']:<24} {r['role']:<9} {state:<9} {r['language'] or '-':<6} {r['created']}")
    return 0
