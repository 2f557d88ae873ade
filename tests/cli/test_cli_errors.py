"""The CLI's bad-input contract: one line on stderr, exit 2, no traceback.

Most cases call `lookout.cli.main.main()` in-process (fast); a few run the installed
`lookout` console script to prove the real entry point prints no traceback either.
Every failing case passes `--out` and checks that nothing was written there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from lookout.base.paths import REPO_ROOT
from lookout.cli.main import build_parser, main
from tests.support.helpers import lookout_script

MANIFEST = REPO_ROOT / "models" / "yolox_nano.yaml"
DEMO_GRID = REPO_ROOT / "configs" / "demo-grid.geojson"
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
    # A zone's grid code must be a cell of the grid file when there is one, and an id
    # (lookout/base/ids.py) in any case.
    (
        "grid_code_not_a_cell",
        f"grid: {{geojson: {DEMO_GRID}}}\n"
        + mutated(
            f"polygon: {POLYGON}\n", f'polygon: {POLYGON}\n        grid_code: "44030510100199"\n'
        ),
        ("cameras[cam1].zones[0].grid_code", "'44030510100199'", "zone 'z'", "demo-grid.geojson"),
    ),
    (
        "grid_code_not_an_id",
        mutated(f"polygon: {POLYGON}\n", f'polygon: {POLYGON}\n        grid_code: "<b>x"\n'),
        ("cameras[0].zones[0].grid_code", "pattern"),
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


def run_script(argv: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [str(lookout_script()), *argv],
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


# -- `lookout run`: startup validates the config like a SIGHUP reload ---------------------


def _daemon_config(tmp_path: Path, camera: str) -> str:
    return (
        "site: {timezone: Asia/Shanghai}\n"
        f"model: {{manifest: {MANIFEST}}}\n"
        f"daemon: {{out_dir: {tmp_path / 'out'}, http: {{enabled: false}}}}\n"
        "cameras:\n" + camera
    )


BAD_DAEMON_CAMERAS: list[tuple[str, str, tuple[str, ...]]] = [
    # (case id, camera entry, strings the error line must contain besides the file name)
    ("no_source_no_onvif", CAMERA, ("cameras[cam1]", "source", "onvif")),
    (
        "unknown_class",
        CAMERA.replace(
            "  - id: cam1\n", "  - id: cam1\n    source: rtsp://127.0.0.1:1/x\n"
        ).replace("classes: [car]", "classes: [spaceship]"),
        ("cameras[cam1].zones[0].policies[0].classes", "spaceship"),
    ),
]


@pytest.mark.parametrize(
    ("camera", "needles"),
    [pytest.param(camera, needles, id=case) for case, camera, needles in BAD_DAEMON_CAMERAS],
)
def test_run_bad_config_fails_before_starting(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    camera: str,
    needles: tuple[str, ...],
) -> None:
    name = f"{request.node.callspec.id}.yaml"
    config = write_config(tmp_path, name, _daemon_config(tmp_path, camera))
    code, stdout, err = run_main(["run", "--config", str(config)], capfd)
    assert_one_line_error(code, err, name, *needles)
    assert stdout == ""
    assert not (tmp_path / "out").exists()  # nothing started, nothing written


@pytest.mark.parametrize(
    ("camera", "needles"),
    [
        pytest.param(CAMERA, ("cameras[cam1]", "source", "onvif"), id="no_source_no_onvif"),
        # Before startup validated, this daemon ran, retrying the missing file forever
        # (run_script's timeout ends such a regression).
        pytest.param(
            CAMERA.replace("  - id: cam1\n", "  - id: cam1\n    source: missing.mp4\n"),
            ("cameras[cam1].source", "missing.mp4", "not found"),
            id="source_file_missing",
        ),
    ],
)
def test_script_run_bad_camera(tmp_path: Path, camera: str, needles: tuple[str, ...]) -> None:
    config = write_config(tmp_path, "bad.yaml", _daemon_config(tmp_path, camera))
    proc = run_script(["run", "--config", str(config)], tmp_path)
    assert_one_line_error(proc.returncode, proc.stderr, "bad.yaml", *needles)
    assert proc.stdout == ""
    assert not (tmp_path / "out").exists()


def test_camera_runtime_without_source_or_onvif_is_a_config_error(tmp_path: Path) -> None:
    """`CameraRuntime.create` itself refuses such a camera with a ConfigError (not an
    assert, which `python -O` strips)."""
    import threading

    from lookout.base.errors import ConfigError
    from lookout.config.app import load_config
    from lookout.runtime.camera import CameraRuntime

    cfg = load_config(write_config(tmp_path, "c.yaml", _daemon_config(tmp_path, CAMERA)))
    cases: Any = None  # never reached: the camera is refused first
    detector: Any = None
    with pytest.raises(ConfigError, match=r"cameras\[cam1\].*source.*onvif"):
        CameraRuntime.create(cfg, "cam1", detector, cases, threading.Event())


# -- --help of every subcommand ---------------------------------------------------------


def _subcommand_paths(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """Every (sub)command path of the parser tree, e.g. ("cases", "list")."""
    paths: list[tuple[str, ...]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.append((*prefix, name))
                paths.extend(_subcommand_paths(sub, (*prefix, name)))
    return paths


SUBCOMMANDS = _subcommand_paths(build_parser())


def test_subcommand_tree_is_found() -> None:
    for path in [("replay",), ("run",), ("bench",), ("cases",), ("cases", "list")]:
        assert path in SUBCOMMANDS


@pytest.mark.parametrize("path", [pytest.param(p, id=" ".join(p)) for p in SUBCOMMANDS])
def test_help_of_every_subcommand(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], path: tuple[str, ...]
) -> None:
    code, stdout, err = run_main([*path, "--help"], capfd)
    assert code == 0, err
    assert "Traceback" not in err and err == "", err
    assert stdout.startswith("usage: lookout " + " ".join(path)), stdout
    assert list(tmp_path.iterdir()) == []


def test_script_bench_help(tmp_path: Path) -> None:
    proc = run_script(["bench", "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "usage: lookout bench" in proc.stdout


# -- -v / -vv before and after the subcommand -------------------------------------------


@pytest.mark.parametrize(
    ("argv", "count"),
    [
        pytest.param(["run", "--config", "x.yaml"], 0, id="none"),
        pytest.param(["-v", "run", "--config", "x.yaml"], 1, id="before"),
        pytest.param(["run", "-v", "--config", "x.yaml"], 1, id="after"),
        pytest.param(["-v", "run", "-v", "--config", "x.yaml"], 2, id="both"),
        pytest.param(["-vv", "run", "--verbose", "--config", "x.yaml"], 3, id="both_long"),
        pytest.param(["replay", "v.avi", "--config", "F", "-vv"], 2, id="replay_after"),
        pytest.param(["--verbose", "replay", "v.avi", "--config", "F"], 1, id="replay_before"),
        pytest.param(["cases", "list", "-v"], 1, id="nested_after"),
        pytest.param(["-v", "cases", "-v", "list", "-v"], 3, id="nested_everywhere"),
    ],
)
def test_verbose_before_and_after_subcommand(argv: list[str], count: int) -> None:
    assert build_parser().parse_args(argv).verbose == count


def test_script_verbose_after_subcommand(tmp_path: Path) -> None:
    """-vv after the subcommand reaches the logging setup (the real entry point): the
    error is still one line."""
    proc = run_script(["replay", "missing.avi", "--config", "c.yaml", "-vv"], tmp_path)
    assert_one_line_error(proc.returncode, proc.stderr, "missing.avi", "not found")
