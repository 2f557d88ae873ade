"""`${VAR}`, `${VAR:-default}` and `${file:PATH}` in config values (lookout.base.secrets):
resolved at load time, errors name the file and key and never a secret's value."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from lookout.base.errors import ConfigError
from lookout.base.paths import REPO_ROOT, assets_dir
from lookout.base.secrets import expand_path
from lookout.base.yamlfile import read_mapping
from lookout.cli.main import main
from lookout.config.app import load_config

MANIFEST = REPO_ROOT / "models" / "yolox_nano.yaml"
SECRET = "s3cr3t-Pa55word"  # never in a message, a log line or a written file
OTHER_SECRET = "another-s3cret-token"


REPLAY_START = 'replay_start: "2026-11-26T09:00:00+08:00"'


def config_text(
    password: str = "${CAM_PW}", extra_camera: str = "", site: str = REPLAY_START
) -> str:
    return (
        f"site: {{{site}}}\n"
        f"model: {{manifest: {MANIFEST}}}\n"
        "cameras:\n"
        "  - id: cam1\n"
        "    analysis_fps: 1\n"
        f"{extra_camera}"
        "    onvif:\n"
        "      host: 127.0.0.1\n"
        "      username: operator\n"
        f"      password: {password}\n"
        "    zones:\n"
        "      - id: z\n"
        "        polygon: [[0, 0], [100, 0], [100, 100], [0, 100]]\n"
        "        policies:\n"
        "          - {type: illegal_parking, classes: [car], dwell_s: 30}\n"
    )


def write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def password(path: Path) -> str:
    onvif = load_config(path).cameras[0].onvif
    assert onvif is not None
    return onvif.password.get_secret_value()


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CAM_PW", "OTHER_PW", "SITE_TZ", "UNSET_VAR"):
        monkeypatch.delenv(name, raising=False)


# -- resolving ------------------------------------------------------------------------------


def test_env_var_resolves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAM_PW", SECRET)
    assert password(write(tmp_path, config_text())) == SECRET
    # Inside a longer string too (an RTSP URL), any number of times.
    path = write(tmp_path, config_text("'${CAM_PW}:${CAM_PW}'"))
    assert password(path) == f"{SECRET}:{SECRET}"


def test_default_and_escape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert password(write(tmp_path, config_text("${CAM_PW:-fallback}"))) == "fallback"
    monkeypatch.setenv("CAM_PW", "")  # empty counts as unset for `:-`
    assert password(write(tmp_path, config_text("${CAM_PW:-fallback}"))) == "fallback"
    monkeypatch.setenv("CAM_PW", SECRET)
    assert password(write(tmp_path, config_text("${CAM_PW:-fallback}"))) == SECRET
    # `$${` is a literal `${`; a resolved value is never scanned again.
    assert password(write(tmp_path, config_text("'a$${CAM_PW}b'"))) == "a${CAM_PW}b"
    monkeypatch.setenv("CAM_PW", "x${OTHER_PW}y")
    assert password(write(tmp_path, config_text())) == "x${OTHER_PW}y"


def test_secret_file_absolute_and_relative(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "cam_pw").write_text(SECRET + "\n")  # as `echo` writes it
    absolute = config_text("${file:" + str(secrets / "cam_pw") + "}")
    assert password(write(tmp_path, absolute)) == SECRET
    # Relative to the config file's folder, not the working directory.
    assert password(write(tmp_path, config_text("${file:secrets/cam_pw}"))) == SECRET


def test_missing_secret_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, config_text("${file:/run/secrets/no-such-secret}"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: cameras[0].onvif.password: secret file /run/secrets/no-such-secret not found"
    )


def test_unset_var_names_file_key_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, config_text())
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: cameras[0].onvif.password: environment variable CAM_PW is not set"
    )


@pytest.mark.parametrize("value", ["'${not a name}'", "'${CAM_PW'", "'${a${CAM_PW}}'"])
def test_bad_reference_is_one_line_without_the_value(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, config_text(value)))
    text = str(info.value)
    assert "cameras[0].onvif.password:" in text and "\n" not in text
    assert "$${" in text  # says how to write a literal ${


def test_lookout_assets_keeps_its_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOKOUT_ASSETS", raising=False)
    path = write(tmp_path, "video: ${LOOKOUT_ASSETS}/footage/x.mp4\nroot: ${LOOKOUT_ROOT}\n")
    data = read_mapping(path, "scenario")
    assert data == {"video": f"{assets_dir()}/footage/x.mp4", "root": str(REPO_ROOT)}
    assert expand_path("${LOOKOUT_ASSETS}/footage/x.mp4", tmp_path) == (
        assets_dir() / "footage" / "x.mp4"
    )
    monkeypatch.setenv("LOOKOUT_ASSETS", str(tmp_path))
    assert read_mapping(path, "scenario")["video"] == f"{tmp_path}/footage/x.mp4"
    # expand_path uses the same substitution: an unset variable is a ConfigError.
    with pytest.raises(ConfigError, match="environment variable UNSET_VAR is not set"):
        expand_path("${UNSET_VAR}/x", tmp_path)


# -- secrets stay out of messages -------------------------------------------------------


def test_secret_not_in_message_of_another_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAM_PW", SECRET)
    text = (
        config_text()
        .replace("dwell_s: 30", "dwell_s: -3")
        .replace("      username: operator\n", "      username: operator\n      colour: red\n")
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert "dwell_s" in message and "colour: unknown key" in message
    assert SECRET not in message


def test_a_message_that_would_echo_a_resolved_value_is_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The time-zone check quotes the value it got: a value from the environment or a
    # secret file is masked wherever it shows up.
    monkeypatch.setenv("SITE_TZ", OTHER_SECRET)
    monkeypatch.setenv("CAM_PW", SECRET)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, config_text(site="timezone: '${SITE_TZ}'")))
    message = str(info.value)
    assert "site.timezone: unknown time zone '***'" in message
    assert OTHER_SECRET not in message and SECRET not in message


# -- the real `lookout` command ---------------------------------------------------------


def run_script(
    argv: Sequence[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "lookout"
    if not script.is_file():
        script = REPO_ROOT / ".venv" / "bin" / "lookout"
    return subprocess.run(
        [str(script), *argv],
        cwd=cwd,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["replay", "calibrate"])
def test_cli_unset_variable_is_one_line_exit_2(tmp_path: Path, command: str, assets: Path) -> None:
    # Another secret is set and resolved before the error: it must not leak either.
    text = config_text(extra_camera="    source: 'rtsp://u:${OTHER_PW}@127.0.0.1/x'\n")
    config = write(tmp_path, text)
    if command == "replay":
        video = assets / "footage" / "vtest.avi"
        argv = ["replay", str(video), "--config", str(config), "--out", str(tmp_path / "out")]
    else:
        points = write(tmp_path, "points: []\n", "points.yaml")
        argv = ["calibrate", str(points), "--config", str(config), "--camera", "cam1", "--write"]
    proc = run_script(argv, tmp_path, {"OTHER_PW": OTHER_SECRET})
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines == [
        f"lookout: error: {config}: cameras[0].onvif.password: "
        "environment variable CAM_PW is not set"
    ]
    assert OTHER_SECRET not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_cli_other_error_does_not_print_the_secret(tmp_path: Path) -> None:
    config = write(tmp_path, config_text().replace("analysis_fps: 1", "analysis_fps: -1"))
    points = write(tmp_path, "points: []\n", "points.yaml")
    proc = run_script(
        ["calibrate", str(points), "--config", str(config), "--camera", "cam1"],
        tmp_path,
        {"CAM_PW": SECRET},
    )
    assert proc.returncode == 2
    assert "cameras[0].analysis_fps" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert SECRET not in proc.stderr + proc.stdout


def test_replay_with_secrets_in_the_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    assets: Path,
) -> None:
    """A config whose sinks, site name and webhook token come from `${…}` replays."""
    monkeypatch.setenv("CAM_PW", SECRET)
    monkeypatch.setenv("HOOK_TOKEN", OTHER_SECRET)
    monkeypatch.setenv("OUTBOX_NAME", "outbox.db")
    (tmp_path / "site_name").write_text("secret-site\n")
    sinks = (
        "sinks:\n"
        '  - {type: sqlite, path: "${OUTBOX_NAME}"}\n'
        '  - {type: jsonl, path: "${JSONL_NAME:-drafts.jsonl}"}\n'
        "  - type: webhook\n"
        "    url: http://127.0.0.1:9/cases\n"
        '    headers: {Authorization: "Bearer ${HOOK_TOKEN}"}\n'
    )
    text = config_text(site=f"name: '${{file:site_name}}', {REPLAY_START}")
    config = write(tmp_path, text + sinks)
    out = tmp_path / "out"
    clip = assets / "footage" / "car-detection.mp4"
    code = main(["replay", str(clip), "--config", str(config), "--out", str(out), "--no-progress"])
    stdout, stderr = capfd.readouterr()
    assert code == 0, stderr
    assert (out / "outbox.db").is_file() and (out / "drafts.jsonl").is_file()
    assert "frames analysed:" in stdout
    for secret in (SECRET, OTHER_SECRET):
        assert secret not in stdout + stderr


def test_a_resolved_secret_never_reaches_a_log_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import logging

    from lookout.base.redact import RedactingFilter
    from lookout.base.secrets import substitute

    monkeypatch.setenv("HOOK_TOKEN", "tok-8f2k-secret")
    url = substitute("http://127.0.0.1:8080/cases?token=${HOOK_TOKEN}", tmp_path)
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "webhook %s failed", (url,), None)
    assert RedactingFilter().filter(record)
    assert "tok-8f2k-secret" not in record.getMessage()
    assert "token=***" in record.getMessage()
