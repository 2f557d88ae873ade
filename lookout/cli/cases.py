"""`lookout cases list`: the draft cases of an outbox; `lookout cases verdict`: record an
operator's verdict on a draft case; `lookout cases prune`: retention of evidence and
outbox rows.

    lookout cases list [--out DIR | --db FILE] [--type T] [--limit N] [--json]

    lookout cases verdict ID --verdict confirmed|false_alarm|closed [--by NAME]
        [--note TEXT] [--rebase] [--out DIR | --db FILE | --config FILE] [--json]

The verdict becomes the case's next status version in the outbox; the delivery worker
of `lookout run` sends it to the remote sinks, and a false alarm reaches dedup
(docs/CASE_STATUS.md). With `--config` the outbox, the references folder and a Redis
dedup store are the configured ones; with `--out`/`--db` the outbox of a replay or
daemon output folder. The console calls `open_review` (lookout/runtime/services.py)
and `CaseReview.verdict` alike.

    lookout cases release ID [--by NAME] [--out DIR | --db FILE | --config FILE]

releases a case the second look held (docs/LEARNING.md, "The second look"): it is
delivered as a draft from then on.

    lookout cases prune --config FILE [--dry-run]

deletes what the config's `retention` deletes (cases/retention.py), or with
`--dry-run` only lists it; the daemon runs the same on its own thread
(`open_retention`).
"""

from __future__ import annotations

import argparse
import getpass
import logging
from pathlib import Path

from lookout.base.errors import SourceError
from lookout.base.events import EVENT_TYPES
from lookout.cases.retention import Removal
from lookout.cases.status import VERDICTS
from lookout.cli.parsing import subcommands
from lookout.config.app import load_config

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = subcommands(parser, "cases_command")
    add_list_arguments(group.add_parser("list", help="List draft cases."))
    add_verdict_arguments(group.add_parser("verdict", help="Record an operator's verdict."))
    add_release_arguments(
        group.add_parser("release", help="Release a case the second look held (deliver it).")
    )
    add_prune_arguments(
        group.add_parser("prune", help="Delete old evidence and outbox rows (retention).")
    )


def run(args: argparse.Namespace) -> int:
    if args.cases_command == "verdict":
        return run_verdict(args)
    if args.cases_command == "release":
        return run_release(args)
    if args.cases_command == "prune":
        return run_prune(args)
    return run_list(args)


def add_list_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("out"), help="Output folder of a replay.")
    p.add_argument("--db", type=Path, help="SQLite outbox file (default: OUT/cases.db).")
    p.add_argument("--type", choices=EVENT_TYPES, help="Only this event type.")
    p.add_argument("--limit", type=int, help="At most this many cases.")
    p.add_argument("--json", action="store_true", help="One JSON object per line.")


def run_list(args: argparse.Namespace) -> int:
    from lookout.cases.sinks import SqliteOutbox

    db: Path = args.db or args.out / "cases.db"
    if not db.is_file():
        raise SourceError(f"{db}: outbox not found")
    outbox = SqliteOutbox.open(db)
    try:
        n = 0
        for case in outbox.cases(case_type=args.type, limit=args.limit):
            n += 1
            if args.json:
                print(case.to_json())
            else:
                print(
                    f"{case.confirmed_at.isoformat()}  {case.type:<20} {case.camera_id:<12} "
                    f"{case.zone_id:<14} dwell={case.dwell_s:>6.1f}s conf={case.confidence:.2f}"
                    f"  {case.id}"
                )
        if not args.json:
            print(f"{n} case(s) in {db}")
    finally:
        outbox.close()
    return 0


def _case_arguments(p: argparse.ArgumentParser) -> None:
    """The case id, who decides and which outbox (verdict, release)."""
    p.add_argument("case_id", help="Case id, or a unique prefix of at least 8 characters.")
    p.add_argument("--by", help="Who decided (default: the login name).")
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


def add_release_arguments(p: argparse.ArgumentParser) -> None:
    _case_arguments(p)


def run_release(args: argparse.Namespace) -> int:
    """Release a held case: delivered as a draft from now on (docs/LEARNING.md)."""
    from lookout.runtime.services import open_review

    with open_review(out=args.out, db=args.db, config=args.config) as review:
        row = review.release(args.case_id, args.by or _login())
    print(f"case {row.case.id}: released; delivered as a draft from now on")
    return 0


def add_verdict_arguments(p: argparse.ArgumentParser) -> None:
    _case_arguments(p)
    p.add_argument("--verdict", required=True, choices=VERDICTS, help="The operator's verdict.")
    p.add_argument("--note", help="A note kept with the verdict and sent with it.")
    p.add_argument(
        "--rebase",
        action="store_true",
        help="Construction case closed or false alarm: the zone's current view becomes its"
        " reference at the next survey.",
    )
    p.add_argument("--json", action="store_true", help="Print the status update as JSON.")


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without passwd entry)
        return "cli"


def run_verdict(args: argparse.Namespace) -> int:
    """Record the verdict; print one line (or the update as JSON)."""
    from lookout.runtime.services import open_review  # the model stack: only when run

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


def add_prune_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", required=True, type=Path, help="Configuration YAML (retention, outbox)."
    )
    p.add_argument("--dry-run", action="store_true", help="Only list what would be deleted.")


def _line(m: Removal, verb: str) -> str:
    when = m.confirmed_at.isoformat(timespec="seconds")
    return (
        f"{verb}  {m.what:<8} {m.reason:<10} {m.status:<11} {when}  {m.case_id}"
        f"  {m.bytes / 1e6:.2f} MB"
    )


def run_prune(args: argparse.Namespace) -> int:
    """Apply retention once (or list it); one line per deletion, then a summary."""
    from lookout.runtime.services import open_retention

    retention = open_retention(load_config(args.config))
    if not retention.outbox.is_file():
        raise SourceError(f"{retention.outbox}: outbox not found")
    plan, done = retention.run_once(dry_run=args.dry_run)
    shown = plan.removals if args.dry_run else done
    verb = "would delete" if args.dry_run else "deleted"
    for m in shown:
        print(_line(m, verb))
    cases = sum(1 for m in shown if m.what == "case")
    print(
        f"{cases} case(s) and the evidence of {len(shown) - cases} more {verb}"
        f" ({sum(m.bytes for m in shown) / 1e6:.2f} MB); {plan.kept_undelivered} undelivered"
        f" case(s) kept; evidence and outbox use {plan.used_bytes / 1e6:.2f} MB,"
        f" {plan.free_bytes / 1e9:.2f} GB free"
    )
    return 0
