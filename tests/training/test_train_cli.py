"""`lookout train` on the core side (lookout/training/run.py, lookout/cli/train.py):
what the user can get wrong is one line and exit 2 before anything starts; the worker
is run in the training environment and its one-line errors come back as they are; on
success the exported model gets a manifest that loads. The training environment is a
stand-in here (a script in place of its Python that plays the worker's part), so
these tests never import torch; the real one runs in scripts/train-loop.sh (CI)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lookout.cli.main import main
from lookout.detector.manifest import load_manifest
from lookout.training import worker

FAKE_PYTHON = """#!/bin/sh
# Stands in for .venv-train/bin/python: args are WORKER --config-dir D --result R ACTION ...
echo "$@" > "$(dirname "$0")/args.txt"
result="$5"
case "$MODE" in
  error) printf '{"error": "--base x.yaml: not a model yaml that Ultralytics ships"}' \
           > "$result"; exit 2 ;;
  crash) echo "Traceback (most recent call last): ..." >&2; exit 1 ;;
  *) printf '{"onnx": "%s", "train_s": 12.5, "export_s": 1.5, "blocked": []}' "$ONNX" > "$result" ;;
esac
"""


@pytest.fixture()
def env(tmp_path: Path) -> Path:
    folder = tmp_path / "venv-train"
    python = folder / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON, encoding="utf-8")
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    """A minimal dataset as `lookout dataset export` lays it out (path: .)."""
    root = tmp_path / "ds"
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "images" / split / "a.jpg").write_bytes(b"\xff\xd8")
    (root / "data.yaml").write_text(
        "path: .\ntrain: images/train\nval: images/val\nnames: {0: person, 1: car}\n",
        encoding="utf-8",
    )
    return root / "data.yaml"


def train(*args: str) -> int:
    return main(["train", "--epochs", "1", "--imgsz", "320", *args])


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


def test_a_missing_base_is_one_line_and_exit_2(
    env: Path, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs" / "m"
    where = ("--train-env", str(env), "--data", str(data), "--out", str(out))
    code = train(*where, "--base", str(tmp_path / "yolov8n.pt"))
    assert code == 2
    assert "yolov8n.pt: no such file; base weights are not downloaded" in one_line(capsys)
    assert not (env / "bin" / "args.txt").exists()  # nothing started
    code = train(*where, "--base", "yolov8n.onnx")
    assert code == 2 and "expected base weights (.pt) or a model .yaml" in one_line(capsys)


def test_a_missing_training_environment_is_one_line_and_exit_2(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = train(
        "--data", str(data), "--base", "yolov8n.yaml", "--out", str(tmp_path / "r"),
        "--train-env", str(tmp_path / "nowhere"),
    )  # fmt: skip
    assert code == 2
    assert "no training environment; make it with scripts/setup.sh --with-train" in one_line(capsys)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "cannot read"),
        ("[1, 2]", "not a dataset file"),
        ("train: images/train\nnames: [a]\n", "val: missing"),
        ("path: .\ntrain: images/train\nval: images/none\nnames: [a]\n", "val: no such folder"),
        ("train: [", "not YAML"),
    ],
)
def test_a_bad_data_yaml_is_one_line_and_exit_2(
    env: Path,
    data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str | None,
    expected: str,
) -> None:
    bad = data.parent / "bad.yaml"
    if text is not None:
        bad.write_text(text, encoding="utf-8")
    code = train(
        "--data", str(bad), "--base", "yolov8n.yaml", "--out", str(tmp_path / "r"),
        "--train-env", str(env),
    )  # fmt: skip
    assert code == 2 and expected in one_line(capsys)


def test_the_worker_runs_in_the_training_env_and_the_model_gets_its_manifest(
    env: Path,
    data: Path,
    assets: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONNX", str(assets / "models" / "yolov8n_int8.onnx"))
    out = tmp_path / "runs" / "city-v1"
    code = train(
        "--data", str(data), "--base", "yolov8n.yaml", "--out", str(out), "--batch", "4",
        "--device", "cpu", "--train-env", str(env),
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "train 1 image(s), val 1" in printed and "in 12.5 s (export 1.5 s)" in printed
    assert f"{out / 'city-v1.onnx'} (3.5 MB, batch fixed)" in printed
    args = (env / "bin" / "args.txt").read_text(encoding="utf-8").split()
    assert Path(args[0]).name == "worker.py" and args[4] == str(out / "worker-result.json")
    assert args[5:7] == ["train", "--data"] and "--device" in args
    # The worker gets a checked copy of data.yaml whose path no longer depends on the cwd.
    copy = yaml.safe_load(Path(args[7]).read_text(encoding="utf-8"))
    assert copy["path"] == str(data.parent.resolve())
    manifest = load_manifest(out / "city-v1.yaml")
    assert manifest.model_path == out / "city-v1.onnx" and manifest.layout == "ultralytics"


def test_the_workers_own_errors_come_back_as_one_line(
    env: Path,
    data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = ["--data", str(data), "--base", "x.yaml", "--out", str(tmp_path / "r")]
    monkeypatch.setenv("MODE", "error")
    assert train(*base, "--train-env", str(env)) == 2
    assert one_line(capsys).endswith("--base x.yaml: not a model yaml that Ultralytics ships")
    monkeypatch.setenv("MODE", "crash")
    assert train(*base, "--train-env", str(env)) == 2
    assert "the training worker failed (exit 1); see above" in capsys.readouterr().err


def test_the_worker_refuses_every_connection_off_this_machine() -> None:
    """The worker's audit hook (called directly: installing it would bind this process)."""
    worker._audit("socket.connect", (None, ("127.0.0.1", 6379)))
    worker._audit("socket.connect", (None, "/tmp/some.sock"))
    worker._audit("socket.getaddrinfo", ("localhost", 0, 0, 0, 0))
    with pytest.raises(OSError, match=r"offline: no connection to github\.com"):
        worker._audit("socket.getaddrinfo", ("github.com", 443, 0, 0, 0))
    with pytest.raises(OSError, match=r"1\.1\.1\.1"):
        worker._audit("socket.connect", (None, ("1.1.1.1", 443)))
    assert worker.BLOCKED[-2:] == ["github.com", "1.1.1.1"]
    del worker.BLOCKED[-2:]


def test_the_core_side_never_imports_torch() -> None:
    code = (
        "import sys, lookout.cli.main, lookout.cli.train, lookout.training.run;"
        "import lookout.training.manifest, lookout.training.worker;"
        "bad = [m for m in ('torch', 'ultralytics', 'torchvision') if m in sys.modules];"
        "sys.exit(f'imported: {bad}' if bad else 0)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.dumps(proc.stdout) == '""'
