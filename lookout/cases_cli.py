"""`lookout cases verdict`: record an operator's verdict on a draft case;
`lookout cases prune`: retention of evidence and outbox rows.

    lookout cases verdict ID --verdict confirmed|false_alarm|closed [--by NAME]
        [--note TEXT] [--rebase] [--out DIR | --db FILE | --config FILE] [--json]

The verdict becomes the case's next status version in the outbox; the delivery worker
of `lookout run` sends it to the remote sinks, and a false alarm reaches dedup
(docs/CASE_STATUS.md). With `--config` the outbox, the references folder and a Redis
dedup store are the configured ones; with `--out`/`--db` the outbox of a replay or
daemon output folder. The console calls `open_review` and `CaseReview.verdict` alike.

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

from lookout.base.errors import ConfigError, SourceError
from lookout.cases.manager import CaseManager
from lookout.cases.remote import outbox_path
from lookout.cases.retention import Removal, Retention, RetentionWorker
from lookout.cases.status import VERDICTS
from lookout.cases.verdicts import CaseReview
from lookout.config import (
    AppConfig,
    RedisStreamSinkConfig,
    WebhookSinkConfig,
    load_config,
)

log = logging.getLogger(__name__)


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


def open_retention(cfg: AppConfig) -> Retention:
    """Retention of a config's outbox and evidence (`daemon.out_dir`): its remote sinks
    must have delivered a case before it may go; a false alarm's row stays while its
    quiet period (`dedup.false_alarm_s`) runs."""
    out_dir = cfg.path(cfg.daemon.out_dir)
    path = outbox_path(cfg.sinks, out_dir)
    if path is None:
        raise ConfigError("retention: needs the sqlite outbox (sinks: [{type: sqlite}, ...])")
    remote = [s.name for s in cfg.sinks if isinstance(s, RedisStreamSinkConfig | WebhookSinkConfig)]
    return Retention(
        cfg.retention,
        out_dir,
        path,
        remote,
        false_alarm_s=cfg.dedup.false_alarm_s,
    )


def retention_worker(cfg: AppConfig, cases: CaseManager) -> RetentionWorker | None:
    """The daemon's retention thread (None when `retention.enabled` is false or there is
    no SQLite outbox); a full disk met by the case writer runs it at once."""
    if not cfg.retention.enabled:
        return None
    try:
        retention = open_retention(cfg)
    except ConfigError as exc:
        log.warning("%s; evidence is never deleted", exc)
        return None
    worker = RetentionWorker(retention, cfg.retention.interval_s)
    cases.store.on_full = worker.wake
    return worker


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
