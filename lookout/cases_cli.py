"""`lookout cases verdict`: record an operator's verdict on a draft case.

    lookout cases verdict ID --verdict confirmed|false_alarm|closed [--by NAME]
        [--note TEXT] [--rebase] [--out DIR | --db FILE | --config FILE] [--json]

The verdict becomes the case's next status version in the outbox; the delivery worker
of `lookout run` sends it to the remote sinks, and a false alarm reaches dedup
(docs/CASE_STATUS.md). With `--config` the outbox, the references folder and a Redis
dedup store are the configured ones; with `--out`/`--db` the outbox of a replay or
daemon output folder. The console calls `open_review` and `CaseReview.verdict` alike.
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path

from lookout.cases.status import VERDICTS
from lookout.cases.verdicts import CaseReview
from lookout.config import AppConfig, load_config


def add_verdict_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("case_id", help="Case id, or a unique prefix of at least 8 characters.")
    p.add_argument("--verdict", required=True, choices=VERDICTS, help="The operator's verdict.")
    p.add_argument("--by", help="Who decided (default: the login name).")
    p.add_argument("--note", help="A note kept with the verdict and sent with it.")
    p.add_argument(
        "--rebase",
        action="store_true",
        help="Construction case closed or false alarm: the zone's current view becomes its"
        " reference at the next survey.",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--out", type=Path, help="Output folder of a replay or the daemon (default: out)."
    )
    where.add_argument("--db", type=Path, help="SQLite outbox file (references beside it).")
    where.add_argument(
        "--config",
        type=Path,
        help="Configuration YAML: its outbox (daemon.out_dir), references, dedup store.",
    )
    p.add_argument("--json", action="store_true", help="Print the status update as JSON.")


def open_review(
    *, out: Path | None = None, db: Path | None = None, config: Path | AppConfig | None = None
) -> CaseReview:
    """The case review of a config (outbox, references, shared dedup store, time zone),
    of an outbox file, or of an output folder (default `out`)."""
    if config is not None:
        cfg = config if isinstance(config, AppConfig) else load_config(config)
        return CaseReview.from_settings(cfg.cases_settings(cfg.path(cfg.daemon.out_dir)))
    if db is not None:
        return CaseReview.open(db, references=db.parent / "references")
    folder = out if out is not None else Path("out")
    return CaseReview.open(folder / "cases.db", references=folder / "references")


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without passwd entry)
        return "cli"


def run_verdict(args: argparse.Namespace) -> int:
    """Record the verdict; print one line (or the update as JSON)."""
    with open_review(out=args.out, db=args.db, config=args.config) as review:
        update = review.verdict(
            args.case_id, args.verdict, args.by or _login(), args.note, rebase=args.rebase
        )
    if args.json:
        print(update.to_json())
        return 0
    extra = "; the current view becomes the reference at the next survey" if update.rebase else ""
    print(
        f"case {update.case_id}: {update.status} (version {update.version}, was"
        f" {update.previous}) by {update.by} at {update.at.isoformat(timespec='seconds')}{extra}"
    )
    return 0
