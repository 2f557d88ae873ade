"""The training worker: run by `lookout train` with the training environment's Python
(`.venv-train`, made by `scripts/setup.sh --with-train`; docs/LEARNING.md "From a
dataset to a model"), never imported by lookout itself.

It imports only the standard library and, once the offline set-up below is in place,
Ultralytics, so it runs by path in an environment where lookout is not installed::

    .venv-train/bin/python lookout/training/worker.py train --data D --base B ... --result R
    .venv-train/bin/python lookout/training/worker.py check DATA.yaml

Offline: Ultralytics downloads weights, fonts and missing packages when it needs them
and checks PyPI for updates. Here nothing may leave the box, so before Ultralytics is
imported the worker sets `YOLO_OFFLINE` (no online checks, no update check, no
analytics), `YOLO_AUTOINSTALL=false` (no pip at run time) and its own settings folder
(`YOLO_CONFIG_DIR`) holding the two fonts the dataset check looks for (copies of
matplotlib's DejaVu Sans, so it never fetches Arial); trains with `plots=False` and
`amp=False` (the AMP check downloads a model on a GPU). And an audit hook refuses every
connection or name lookup that is not to this machine, says so on stderr and counts it
in the result: a new download path in a later Ultralytics fails loudly instead of
fetching (the CI loop fails on any).

Exit codes: 0 done; 2 a user error, one line (in the result file when there is one,
else on stderr); anything else a crash.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}
FONTS = ("Arial.ttf", "Arial.Unicode.ttf")
BLOCKED: list[str] = []


class UserError(Exception):
    """A problem with what the user gave: one line, exit 2."""


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect":
        address = args[1]
        if not isinstance(address, tuple):  # a Unix socket (DataLoader, multiprocessing)
            return
        host = address[0]
    else:
        return
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host is None or str(host) in LOCAL_HOSTS:
        return
    BLOCKED.append(str(host))
    print(f"train worker: blocked network access to {host} (offline)", file=sys.stderr)
    raise OSError(f"lookout train is offline: no connection to {host}")


def go_offline(config_dir: Path) -> None:
    """Everything Ultralytics needs to stay on this machine; call before importing it."""
    sys.addaudithook(_audit)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ.setdefault("MPLBACKEND", "Agg")
    user_dir = config_dir / "Ultralytics"  # what Ultralytics makes of YOLO_CONFIG_DIR
    user_dir.mkdir(parents=True, exist_ok=True)
    missing = [f for f in FONTS if not (user_dir / f).is_file()]
    if missing:
        import matplotlib

        dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        for name in missing:
            shutil.copyfile(dejavu, user_dir / name)
    from ultralytics import settings

    settings.update({"sync": False, "weights_dir": str(user_dir / "weights")})


def _base_model(base: str) -> str:
    """A `.pt` must be a file on disk (never a name to download); a `.yaml` is a file
    or the name of one Ultralytics ships (yolov8n.yaml, yolo11n.yaml)."""
    path = Path(base)
    if path.suffix == ".pt":
        if not path.is_file():
            raise UserError(f"--base {base}: no such file (base weights are not downloaded)")
        return str(path.resolve())
    if path.suffix not in {".yaml", ".yml"}:
        raise UserError(f"--base {base}: expected a .pt file or a model .yaml")
    if path.is_file():
        return str(path.resolve())
    if path.parent != Path("."):
        raise UserError(f"--base {base}: no such file")
    return base  # resolved by Ultralytics among the model yamls it ships


def check(data: Path) -> dict[str, Any]:
    """The Ultralytics dataset checker on `data` (no download: autodownload off)."""
    from ultralytics.data.utils import check_det_dataset

    if not data.is_file():
        raise UserError(f"{data}: no such dataset file")
    try:
        info = check_det_dataset(str(data), autodownload=False)
    except (FileNotFoundError, SyntaxError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{data}: {first}") from None
    counts = {}
    for split in ("train", "val"):
        folder = Path(info[split])
        counts[split] = sum(1 for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".png"})
    return {"classes": int(info["nc"]), "images": counts}


def train(args: argparse.Namespace) -> dict[str, Any]:
    from ultralytics import YOLO

    base = _base_model(args.base)
    out = Path(args.out).resolve()
    try:
        model = YOLO(base)
    except FileNotFoundError:
        raise UserError(f"--base {base}: not a model yaml that Ultralytics ships") from None
    t0 = time.monotonic()
    model.train(
        data=str(Path(args.data).resolve()),
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        device=args.device,
        workers=args.workers,
        project=str(out.parent),
        name=out.name,
        exist_ok=True,
        plots=False,
        amp=False,
        seed=0,
        deterministic=True,
        verbose=True,
    )
    train_s = time.monotonic() - t0
    best = out / "weights" / "best.pt"
    if not best.is_file():
        best = out / "weights" / "last.pt"
    t1 = time.monotonic()
    onnx = YOLO(str(best)).export(
        format="onnx", dynamic=True, imgsz=args.imgsz, simplify=True, device="cpu"
    )
    export_s = time.monotonic() - t1
    return {
        "weights": str(best),
        "onnx": str(onnx),
        "train_s": round(train_s, 2),
        "export_s": round(export_s, 2),
    }


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="worker.py", description=__doc__.splitlines()[0])
    p.add_argument("--config-dir", type=Path, required=True, help="Ultralytics settings folder.")
    p.add_argument("--result", type=Path, help="Write the result as JSON here.")
    sub = p.add_subparsers(dest="action", required=True)
    c = sub.add_parser("check")
    c.add_argument("data", type=Path)
    t = sub.add_parser("train")
    t.add_argument("--data", required=True)
    t.add_argument("--base", required=True)
    t.add_argument("--epochs", type=int, required=True)
    t.add_argument("--imgsz", type=int, required=True)
    t.add_argument("--batch", type=int, required=True)
    t.add_argument("--device", default=None, help="cpu, 0, cuda:0 (default: a GPU if any)")
    t.add_argument("--workers", type=int, default=2)
    t.add_argument("--out", required=True)
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        go_offline(args.config_dir)
        result = check(args.data) if args.action == "check" else train(args)
    except UserError as exc:
        if args.result is not None:  # `lookout train` prints it as its one line
            args.result.write_text(json.dumps({"error": str(exc)}), encoding="utf-8")
        else:
            print(f"worker: {exc}", file=sys.stderr)
        return 2
    result["blocked"] = BLOCKED
    if args.result is not None:
        args.result.write_text(json.dumps(result), encoding="utf-8")
    else:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
