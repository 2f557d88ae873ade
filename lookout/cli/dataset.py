"""`lookout dataset export`: the clean frames kept with cases (`dataset: {keep: true}`)
as a YOLO-format dataset; `lookout dataset import`: check a labelled set that comes
back from CVAT or Label Studio (docs/LEARNING.md).

    lookout dataset export --from DATE --to DATE --out DIR [--types T,...]
        [--cameras C,...] [--config FILE | --out-dir DIR | --db FILE] [--timezone TZ]

    lookout dataset import DIR

The period holds the cases confirmed in it, as for `lookout report`: `--from` a date is
that day's start, `--to` a date that day's end, in the site's time zone. `--out` is
the dataset folder (new or empty), so the output folder of the daemon or a replay is
`--out-dir`. `import` prints one line per problem and a summary; it exits 0 when the
set is clean, 1 when it found problems, 2 when the folder cannot be used at all.
"""

from __future__ import annotations

import argparse
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from lookout.base.errors import LookoutError
from lookout.base.events import EVENT_TYPES
from lookout.cli.parsing import subcommands
from lookout.report.build import DEFAULT_TZ, parse_bound


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = subcommands(parser, "dataset_command")
    add_export_arguments(
        group.add_parser("export", help="Write a YOLO dataset from the kept clean frames.")
    )
    add_import_arguments(
        group.add_parser("import", help="Check a labelled YOLO set (CVAT, Label Studio).")
    )


def run(args: argparse.Namespace) -> int:
    if args.dataset_command == "import":
        return run_import(args)
    return run_export(args)


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="start", required=True, help="First day (or ISO time).")
    p.add_argument("--to", dest="end", required=True, help="Last day (or ISO time, exclusive).")
    p.add_argument(
        "--types", type=_list, default=[], help="Only these event types (comma-separated)."
    )
    p.add_argument(
        "--cameras", type=_list, default=[], help="Only these cameras (comma-separated)."
    )
    p.add_argument("--out", type=Path, required=True, help="Dataset folder (new or empty).")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="Configuration YAML (its daemon.out_dir).")
    where.add_argument(
        "--out-dir", type=Path, help="Output folder of the daemon or a replay (default: out)."
    )
    where.add_argument("--db", type=Path, help="SQLite outbox file (evidence/ beside it).")
    p.add_argument("--timezone", help=f"Site time zone without --config (default {DEFAULT_TZ}).")


def run_export(args: argparse.Namespace) -> int:
    """Write the dataset; print one summary line."""
    from lookout.config.app import load_config
    from lookout.dataset.export import export_dataset
    from lookout.runtime.services import open_review

    unknown = [t for t in args.types if t not in EVENT_TYPES]
    if unknown:
        raise LookoutError(
            f"--types: unknown event type {unknown[0]!r} (one of {', '.join(EVENT_TYPES)})"
        )
    cfg = load_config(args.config) if args.config is not None else None
    if cfg is not None:
        tz: tzinfo = cfg.site.tz
    else:
        try:
            tz = ZoneInfo(args.timezone or DEFAULT_TZ)
        except (ValueError, KeyError):
            raise LookoutError(f"--timezone: unknown time zone {args.timezone!r}") from None
    start = parse_bound(args.start, tz, end=False)
    end = parse_bound(args.end, tz, end=True)
    if start >= end:
        raise LookoutError(f"--from {args.start} is after --to {args.end}")
    if cfg is not None:
        out_dir = cfg.path(cfg.daemon.out_dir)
        review = open_review(config=cfg)
    else:
        out_dir = args.db.parent if args.db is not None else (args.out_dir or Path("out"))
        review = open_review(out=out_dir, db=args.db)
    with review:
        summary = export_dataset(
            review,
            out_dir,
            args.out,
            start=start,
            end=end,
            tz=tz,
            types=args.types,
            cameras=args.cameras,
        )
    print(summary.line())
    return 0


def add_import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "folder",
        type=Path,
        help="The labelled set: data.yaml (Ultralytics, this export), obj.names (CVAT YOLO"
        " 1.1) or classes.txt (Label Studio YOLO) with its images and labels.",
    )


def run_import(args: argparse.Namespace) -> int:
    """One line per problem, then the summary; exit 1 when there were problems."""
    from lookout.dataset.check import check_dataset

    result = check_dataset(args.folder)
    for problem in result.problems:
        print(problem)
    print(result.line())
    return 1 if result.problems else 0
