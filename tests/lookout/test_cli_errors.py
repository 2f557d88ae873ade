"""The CLI's bad-input contract (DESIGN.md §4): one line on stderr, exit 2, no traceback.

Most cases call `lookout.cli.main()` in-process (fast); a few run the installed
`lookout` console script to prove the real entry point prints no traceback either.
Every failing case passes `--out` and checks that nothing was written there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from lookout.assets import REPO_ROOT
from lookout.cli import main

MANIFEST = REPO_ROOT / "models" / "yolox_nano.yaml"
POLYGON = "[[0, 0], [100, 0], [100, 100], [0, 100]]"
POLICY = "{type: illegal_parking, classes: [car], dwell_s: 30}"
CAMERA = f"""\
  - id: cam1
    zones:
      - id: z
        polygon: {POLYGON}
        policies:
          - {POLICY}
"""


def base_config(manifest: Path = MANIFEST) -> str:
    return (
        'site: {replay_start: "2026-11-26T09:00:00+08:00"}\n'
        f"model: {{manifest: {manifest}}}\n"
        "cameras:\n" + CAMERA
    )


def write_config(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def mutated(old: str, new: str) -> str:
    text = base_config()
    assert old in text, f"test bug: {old!r} not in the base config"
    return text.replace(old, new, 1)


def run_main(argv: Sequence[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in-process; argparse errors arrive as SystemExit."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capfd.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, f"exit code {code}, stderr: {err!r}"
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {err!r}"
    line = lines[0]
    assert line.strip(), "stderr line is blank"
    assert line.startswith("lookout: error:"), line
    for needle in needles:
        assert needle in line, f"{needle!r} not named in {line!r}"


@pytest.fixture
def video(assets: Path) -> Path:
    return assets / "footage" / "vtest.avi"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Relative paths (and the default --out) stay inside the test's folder.
    monkeypatch.chdir(tmp_path)


# -- bad video --------------------------------------------------------------------------


def _bad_video(tmp_path: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp_path / "missing.avi"
    if kind == "text":
        path = tmp_path / "notes.avi"
        path.write_text("this is not a video\n")
        return path
    if kind == "empty":
        path = tmp_path / "empty.avi"
        path.write_bytes(b"")
        return path
    path = tmp_path / "folder.avi"
    path.mkdir()
    return path


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("missing", "not found"),
        ("text", "not a readable video"),
        ("empty", "not a readable video"),
        ("folder", "folder"),
    ],
)
def test_bad_video(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], kind: str, problem: str
) -> None:
    config = write_config(tmp_path, "ok.yaml", base_config())
    video = _bad_video(tmp_path, kind)
    out = tmp_path / "out"
    code, stdout, err = run_main(
        ["replay", str(video), "--config", str(config), "--out", str(out)], capfd
    )
    assert_one_line_error(code, err, video.name, problem)
    assert stdout == ""
    assert not out.exists()


# -- bad config -------------------------------------------------------------------------

BAD_CONFIGS: list[tuple[str, str, tuple[str, ...]]] = [
    # (case id, config text, strings the error line must contain besides the file name)
    (
        "invalid_yaml",
        'site: {replay_start: "2026-11-26T09:00:00+08:00"\nmodel: [\n',
        (":2:1:", "invalid YAML"),
    ),
    (
        "unknown_key",
        mutated("  - id: cam1\n", "  - id: cam1\n    colour: red\n"),
        ("cameras[0].colour", "unknown key"),
    ),
    (
        "polygon_two_points",
        mutated(POLYGON, "[[0, 0], [100, 0]]"),
        ("cameras[0].zones[0].polygon", "at least 3 points"),
    ),
    (
        "polygon_self_intersecting",
        mutated(POLYGON, "[[0, 0], [100, 100], [100, 0], [0, 100]]"),
        ("cameras[0].zones[0].polygon", "Self-intersection"),
    ),
    (
        "unknown_class",
        mutated("classes: [car]", "classes: [spaceship]"),
        ("policies[0].classes", "spaceship"),
    ),
    (
        "negative_dwell",
        mutated("dwell_s: 30", "dwell_s: -5"),
        ("cameras[0].zones[0].policies[0].dwell_s",),
    ),
    (
        "two_cameras_no_camera_flag",
        base_config() + CAMERA.replace("cam1", "cam2"),
        ("--camera", "cam1", "cam2"),
    ),
]


@pytest.mark.parametrize(
    ("text", "needles"),
    [pytest.param(text, needles, id=case) for case, text, needles in BAD_CONFIGS],
)
def test_bad_config(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    video: Path,
    request: pytest.FixtureRequest,
    text: str,
    needles: tuple[str, ...],
) -> None:
    name = f"{request.node.callspec.id}.yaml"
    config = write_config(tmp_path, name, text)
    out = tmp_path / "out"
    code, stdout, err = run_main(
        ["replay", str(video), "--config", str(config), "--out", str(out)], capfd
    )
    assert_one_line_error(code, err, name, *needles)
    assert stdout == ""
    assert not out.exists()


def test_missing_config(tmp_path: Path, capfd: pytest.CaptureFixture[str], video: Path) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_main(
        ["replay", str(video), "--config", str(tmp_path / "nowhere.yaml"), "--out", str(out)], capfd
    )
    assert_one_line_error(code, err, "nowhere.yaml", "not found")
    assert stdout == ""
    assert not out.exists()


def test_unknown_camera(tmp_path: Path, capfd: pytest.CaptureFixture[str], video: Path) -> None:
    config = write_config(tmp_path, "ok.yaml", base_config())
    out = tmp_path / "out"
    code, stdout, err = run_main(
        ["replay", str(video), "--config", str(config), "--camera", "nope", "--out", str(out)],
        capfd,
    )
    assert_one_line_error(code, err, "ok.yaml", "'nope'", "cam1")
    assert stdout == ""
    assert not out.exists()


def _fake_model_config(tmp_path: Path) -> Path:
    fake = tmp_path / "fake.onnx"
    fake.write_text("this is not an ONNX model\n")
    lines = MANIFEST.read_text(encoding="utf-8").splitlines()
    assert any(line.startswith("file:") for line in lines)
    manifest = tmp_path / "fake_manifest.yaml"
    manifest.write_text(
        "\n".join(f"file: {fake}" if line.startswith("file:") else line for line in lines) + "\n",
        encoding="utf-8",
    )
    return write_config(tmp_path, "fake_model.yaml", base_config(manifest))


def test_model_not_onnx(tmp_path: Path, capfd: pytest.CaptureFixture[str], video: Path) -> None:
    config = _fake_model_config(tmp_path)
    out = tmp_path / "out"
    code, stdout, err = run_main(
        ["replay", str(video), "--config", str(config), "--out", str(out)], capfd
    )
    assert_one_line_error(code, err, "fake.onnx", "not an ONNX model")
    assert stdout == ""
    assert not out.exists()


# -- argparse ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        pytest.param(["frobnicate"], "frobnicate", id="unknown_subcommand"),
        pytest.param(["replay", "x.avi"], "--config", id="missing_config_arg"),
        pytest.param(["replay", "--config", "c.yaml"], "video", id="missing_video_arg"),
    ],
)
def test_usage_errors(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, stdout, err = run_main(argv, capfd)
    assert_one_line_error(code, err, needle)
    assert stdout == ""
    assert list(tmp_path.iterdir()) == []


# -- the real console script ------------------------------------------------------------


def _lookout_script() -> Path:
    script = Path(sys.executable).parent / "lookout"
    if not script.is_file():
        script = REPO_ROOT / ".venv" / "bin" / "lookout"
    if not script.is_file():
        pytest.fail("the `lookout` console script is not installed (pip install -e .)")
    return script


def run_script(argv: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [str(_lookout_script()), *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_script_missing_video(tmp_path: Path) -> None:
    config = write_config(tmp_path, "ok.yaml", base_config())
    out = tmp_path / "out"
    proc = run_script(
        ["replay", "missing.avi", "--config", str(config), "--out", str(out)], tmp_path
    )
    assert_one_line_error(proc.returncode, proc.stderr, "missing.avi", "not found")
    assert proc.stdout == ""
    assert not out.exists()


def test_script_model_not_onnx(tmp_path: Path, video: Path) -> None:
    config = _fake_model_config(tmp_path)
    out = tmp_path / "out"
    proc = run_script(["replay", str(video), "--config", str(config), "--out", str(out)], tmp_path)
    assert_one_line_error(proc.returncode, proc.stderr, "fake.onnx", "not an ONNX model")
    assert proc.stdout == ""
    assert not out.exists()


def test_script_unknown_subcommand(tmp_path: Path) -> None:
    proc = run_script(["frobnicate"], tmp_path)
    assert_one_line_error(proc.returncode, proc.stderr, "frobnicate")
    assert proc.stdout == ""


# -- positive control -------------------------------------------------------------------


def test_minimal_config_replays(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], assets: Path
) -> None:
    """The base config is valid: the failures above come from the one thing changed.
    (analysis_fps: 1 only keeps the 30 s clip quick.)"""
    text = base_config().replace("  - id: cam1\n", "  - id: cam1\n    analysis_fps: 1\n", 1)
    config = write_config(tmp_path, "ok.yaml", text)
    out = tmp_path / "out"
    clip = assets / "footage" / "car-detection.mp4"
    code, stdout, err = run_main(
        ["replay", str(clip), "--config", str(config), "--out", str(out), "--no-progress"], capfd
    )
    assert code == 0, err
    assert "Traceback" not in err
    assert (out / "cases.jsonl").is_file()
    assert "frames analysed:" in stdout
