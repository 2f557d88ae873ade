"""`lookout train` outside the command line: check what the user gave, run the worker
(lookout/training/worker.py) with the training environment's Python, then give the
exported ONNX its manifest (lookout/training/manifest.py).

The core environment never imports torch or Ultralytics: they live in `.venv-train`
(`scripts/setup.sh --with-train`), and this module only starts a process there
(docs/LEARNING.md "From a dataset to a model"). Everything the user can get wrong — no
training environment, a base `.pt` that is not on disk, a data.yaml that is not one —
is found here first and is one line, exit 2, before the worker starts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lookout.base.errors import LookoutError
from lookout.base.paths import REPO_ROOT
from lookout.training.manifest import OnnxFacts, RolePlan, write_manifest

TRAIN_ENV = REPO_ROOT / ".venv-train"
WORKER = Path(__file__).resolve().with_name("worker.py")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class TrainError(LookoutError):
    """Training cannot start or did not finish (one line, exit 2)."""


@dataclass(frozen=True, slots=True)
class TrainRequest:
    data: Path
    base: str
    epochs: int
    imgsz: int
    batch: int
    out: Path  # DIR/NAME: the run folder; NAME.onnx and NAME.yaml are written in it
    roles: Path | None = None
    device: str | None = None  # None: Ultralytics' choice (the GPU when there is one)
    workers: int = 2
    env: Path = TRAIN_ENV


@dataclass(frozen=True, slots=True)
class DataSummary:
    path: Path  # the checked copy with an absolute `path`, in the run folder
    classes: int
    train_images: int
    val_images: int


@dataclass(frozen=True, slots=True)
class TrainResult:
    data: DataSummary
    onnx: Path
    manifest: Path
    train_s: float
    export_s: float
    facts: OnnxFacts
    roles: RolePlan

    @property
    def onnx_mb(self) -> float:
        return self.onnx.stat().st_size / 1e6


def train_python(env: Path) -> Path:
    """The training environment's interpreter."""
    python = env / "bin" / "python"
    if not python.is_file():
        raise TrainError(
            f"{env}: no training environment; make it with scripts/setup.sh --with-train"
        )
    return python


def check_base(base: str) -> str:
    """A `.pt` that is a file (made absolute), or a model `.yaml`: a file or the bare
    name of one Ultralytics ships (yolov8n.yaml). Nothing is ever downloaded."""
    path = Path(base)
    if path.suffix == ".pt":
        if not path.is_file():
            raise TrainError(
                f"--base {base}: no such file; base weights are not downloaded, copy the .pt"
                " here first (docs/LEARNING.md, base weights)"
            )
        return str(path.resolve())
    if path.suffix in {".yaml", ".yml"}:
        if path.is_file():
            return str(path.resolve())
        if path.parent == Path("."):
            return base
        raise TrainError(f"--base {base}: no such file")
    raise TrainError(f"--base {base}: expected base weights (.pt) or a model .yaml")


def _images(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def check_data(data: Path, run_dir: Path) -> DataSummary:
    """Read an Ultralytics data.yaml (as `lookout dataset export` writes it), check its
    folders and names, and write a copy whose `path` is absolute into `run_dir` (a
    relative `path` is the data.yaml's folder here, not the working directory)."""
    try:
        raw: Any = yaml.safe_load(data.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TrainError(f"--data {data}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise TrainError(f"--data {data}: not YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise TrainError(f"--data {data}: not a dataset file (expected a mapping)")
    missing = [k for k in ("train", "val", "names") if not raw.get(k)]
    if missing:
        raise TrainError(f"--data {data}: {', '.join(missing)}: missing")
    names = raw["names"]
    if not isinstance(names, dict | list):
        raise TrainError(f"--data {data}: names: expected a list or index: name mapping")
    root = Path(str(raw.get("path") or "."))
    if not root.is_absolute():
        root = (data.resolve().parent / root).resolve()
    counts = {}
    for split in ("train", "val"):
        if not isinstance(raw[split], str):
            raise TrainError(f"--data {data}: {split}: expected one folder")
        folder = root / raw[split]
        if not folder.is_dir():
            raise TrainError(f"--data {data}: {split}: no such folder {folder}")
        counts[split] = _images(folder)
        if counts[split] == 0:
            raise TrainError(f"--data {data}: {split}: no images in {folder}")
    run_dir.mkdir(parents=True, exist_ok=True)
    copy = run_dir / "data.yaml"
    copy.write_text(yaml.safe_dump({**raw, "path": str(root)}, allow_unicode=True), "utf-8")
    return DataSummary(copy, len(names), counts["train"], counts["val"])


def run_worker(python: Path, args: list[str], result: Path) -> dict[str, Any]:
    """Run the worker with `args`; its output streams through. A user error it found
    (exit 2) becomes a TrainError with its one line."""
    result.unlink(missing_ok=True)
    command = [
        str(python),
        str(WORKER),
        "--config-dir",
        str(python.parent.parent / "ultralytics"),
        "--result",
        str(result),
        *args,
    ]
    env = {**os.environ, "PYTHONNOUSERSITE": "1"}
    sys.stdout.flush()
    proc = subprocess.run(command, env=env, check=False)  # its output goes where ours does
    body: dict[str, Any] = {}
    if result.is_file():
        body = json.loads(result.read_text(encoding="utf-8"))
    if proc.returncode == 2 and "error" in body:
        raise TrainError(str(body["error"]))
    if proc.returncode != 0 or "error" in body:
        raise TrainError(f"the training worker failed (exit {proc.returncode}); see above")
    return body


def train(request: TrainRequest) -> TrainResult:
    """Train, export, write the manifest. Raises TrainError (and the manifest's
    ModelError/ConfigError) as one line."""
    python = train_python(request.env)
    base = check_base(request.base)
    if request.roles is not None and not request.roles.is_file():
        raise TrainError(f"--roles {request.roles}: no such file")
    out = request.out.resolve()
    data = check_data(request.data, out)
    args = [
        "train",
        "--data",
        str(data.path),
        "--base",
        base,
        "--epochs",
        str(request.epochs),
        "--imgsz",
        str(request.imgsz),
        "--batch",
        str(request.batch),
        "--workers",
        str(request.workers),
        "--out",
        str(out),
    ]
    if request.device is not None:
        args += ["--device", request.device]
    body = run_worker(python, args, out / "worker-result.json")
    if body.get("blocked"):
        raise TrainError(f"the worker tried to reach {', '.join(body['blocked'])}; it must not")
    onnx = out / f"{out.name}.onnx"
    shutil.copyfile(body["onnx"], onnx)
    note = f"{request.epochs} epoch(s) from {request.base} at {request.imgsz} on {request.data}"
    facts, plan = write_manifest(
        onnx, out / f"{out.name}.yaml", roles_file=request.roles, note=note
    )
    return TrainResult(
        data=data,
        onnx=onnx,
        manifest=out / f"{out.name}.yaml",
        train_s=float(body["train_s"]),
        export_s=float(body["export_s"]),
        facts=facts,
        roles=plan,
    )
