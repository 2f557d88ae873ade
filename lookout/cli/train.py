"""`lookout train --data DIR/data.yaml --base yolov8n.pt|yolov8n.yaml --out DIR/NAME`:
train a detector with Ultralytics in the training environment (`.venv-train`, made by
`scripts/setup.sh --with-train`), offline; export it to ONNX with a dynamic batch and
write its manifest `DIR/NAME/NAME.yaml` beside `DIR/NAME/NAME.onnx`
(docs/LEARNING.md "From a dataset to a model")."""

from __future__ import annotations

import argparse
from pathlib import Path


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be 1 or more")
    return number


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", required=True, type=Path, help="The dataset's data.yaml (Ultralytics layout)."
    )
    p.add_argument(
        "--base",
        required=True,
        help="Base weights on disk (yolov8n.pt, yolo11n.pt; never downloaded) or a model yaml "
        "(yolov8n.yaml: from scratch).",
    )
    p.add_argument("--out", required=True, type=Path, help="Run folder DIR/NAME.")
    p.add_argument("--epochs", type=positive_int, default=50, help="Epochs (default 50).")
    p.add_argument("--imgsz", type=positive_int, default=640, help="Input size (default 640).")
    p.add_argument("--batch", type=positive_int, default=16, help="Batch size (default 16).")
    p.add_argument(
        "--roles",
        type=Path,
        help="Roles of the classes (role: [class, ...], or a manifest); default: the COCO "
        "roles of models/yolox_nano.yaml.",
    )
    p.add_argument("--device", help="cpu, 0, cuda:0 (default: the GPU when there is one).")
    p.add_argument("--workers", type=int, default=2, help="Data loader processes (default 2).")
    p.add_argument(
        "--train-env",
        type=Path,
        help="The training environment (default: .venv-train in the repository).",
    )


def run(args: argparse.Namespace) -> int:
    from lookout.training.run import TRAIN_ENV, TrainRequest, train

    result = train(
        TrainRequest(
            data=args.data,
            base=args.base,
            epochs=args.epochs,
            imgsz=args.imgsz,
            batch=args.batch,
            out=args.out,
            roles=args.roles,
            device=args.device,
            workers=args.workers,
            env=args.train_env or TRAIN_ENV,
        )
    )
    data, facts, roles = result.data, result.facts, result.roles
    print(
        f"dataset:  {args.data} ({data.classes} classes; train {data.train_images} image(s), "
        f"val {data.val_images})"
    )
    print(
        f"trained:  {args.epochs} epoch(s) from {args.base} at {args.imgsz} in "
        f"{result.train_s:.1f} s (export {result.export_s:.1f} s)"
    )
    batch = "dynamic" if facts.dynamic_batch else "fixed"
    print(f"model:    {result.onnx} ({result.onnx_mb:.1f} MB, batch {batch})")
    unplaced = f"; no role yet: {', '.join(roles.unplaced)}" if roles.unplaced else ""
    print(
        f"manifest: {result.manifest} ({len(facts.names)} classes, roles from "
        f"{roles.source}{unplaced})"
    )
    return 0
