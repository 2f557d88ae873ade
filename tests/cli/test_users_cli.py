"""`lookout users` and `lookout audit` (docs/ACCOUNTS.md): accounts made, changed and
listed through the real command line; bad input is one line and exit 2; every change
made with --config is in the audit log."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lookout.base.passwords import PasswordHash
from lookout.cli.main import main
from lookout.config.users import load_users
from tests.support.config import write_config


def run(args: list[str], monkeypatch: pytest.MonkeyPatch, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(args)


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    cam = {"id": "cam1", "source": "rtsp://127.0.0.1:9/none", "zones": []}
    return write_config(tmp_path, [cam], site={"timezone": "Asia/Shanghai"}, name="site.yaml")


def test_accounts_from_the_command_line(
    site: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = ["--config", str(site)]
    assert (
        run(["users", "add", "wang.li", "--role", "operator", *cfg], monkeypatch, "pw-wang-123\n")
        == 0
    )
    monkeypatch.setenv("LI_SI_PW", "pw-lisi-4567")
    assert (
        run(
            [
                "users",
                "add",
                "李四",
                "--role",
                "admin",
                "--language",
                "zh-CN",
                *cfg,
                "--password",
                "${LI_SI_PW}",
            ],
            monkeypatch,
        )
        == 0
    )
    users = load_users(site.parent / "users.yaml")
    wang, li = users.find("wang.li"), users.find("李四")
    assert wang is not None and li is not None and li.language == "zh-CN"
    assert PasswordHash.parse(wang.password, "k").matches("pw-wang-123")
    assert PasswordHash.parse(li.password, "k").matches("pw-lisi-4567")
    capsys.readouterr()

    for args, stdin, problem in (
        (["add", "wang.li", "--role", "viewer"], "another-pw-1\n", "exists"),
        (["add", "<b>x</b>", "--role", "viewer"], "another-pw-1\n", "not a valid login name"),
        (["add", "zhao", "--role", "viewer", "--password", "plain-pw-123"], "", "reference"),
        (["add", "zhao", "--role", "viewer"], "short\n", "at least 8"),
        (["add", "zhao", "--role", "viewer"], "", "empty"),
        (["passwd", "nobody"], "another-pw-1\n", "no account 'nobody'"),
    ):
        assert run(["users", *args, *cfg], monkeypatch, stdin) == 2, args
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and problem in err, (args, err)
        assert "another-pw-1" not in err and "plain-pw-123" not in err

    assert run(["users", "passwd", "wang.li", *cfg], monkeypatch, "pw-wang-new-1\n") == 0
    assert run(["users", "role", "wang.li", "viewer", *cfg], monkeypatch) == 0
    assert run(["users", "disable", "wang.li", *cfg], monkeypatch) == 0
    wang = load_users(site.parent / "users.yaml").find("wang.li")
    assert wang is not None and wang.disabled and wang.role == "viewer"
    assert wang.generation == 3  # passwd, role, disable: each ends the sessions
    capsys.readouterr()
    assert run(["users", "list", *cfg, "--json"], monkeypatch) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["role"], r["disabled"]) for r in rows] == [
        ("wang.li", "viewer", True),
        ("李四", "admin", False),
    ]
    assert "scrypt" not in json.dumps(rows)

    assert run(["audit", *cfg, "--json"], monkeypatch) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("user_add", "wang.li"),
        ("user_add", "李四"),
        ("user_passwd", "wang.li"),
        ("user_role", "wang.li"),
        ("user_disable", "wang.li"),
    ]
    assert all(e["at"].endswith("+08:00") and e["who"].endswith("(cli)") for e in entries)
    assert entries[3]["detail"] == {"role": "viewer", "was": "operator"}
    assert run(["audit", *cfg, "--action", "user_role"], monkeypatch) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    assert run(["audit", *cfg, "--from", "2000-01-01", "--to", "2000-01-02"], monkeypatch) == 0
    assert capsys.readouterr().out == ""
    assert run(["audit", *cfg, "--from", "9999-99-99"], monkeypatch) == 2
    assert run(["audit", *cfg, "--verify"], monkeypatch) == 0
