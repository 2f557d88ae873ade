"""`lookout audit`: print the console's audit log (docs/ACCOUNTS.md "Audit log").

    lookout audit --config FILE [--from DATE] [--to DATE] [--who NAME]
        [--action ACTION] [--json] [--verify]

Who did what, when (in the site's time zone) and from where: verdicts, releases, zone
saves, calibrations, PTZ holds, acknowledgements, logins (and failures), logouts and
account changes. `--from` a date is that day's start, `--to` a date that day's end.
`--verify` checks the log's hash chain: exit 1 and the first broken row when a row was
changed or removed behind lookout's back."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lookout.base.errors import SourceError
from lookout.report.audit import ACTIONS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, required=True, help="Configuration YAML.")
    p.add_argument("--from", dest="start", help="First day (or ISO time), site time zone.")
    p.add_argument("--to", dest="end", help="Last day (or ISO time), site time zone.")
    p.add_argument("--who", help="Only this person.")
    p.add_argument("--action", choices=ACTIONS, help="Only this action.")
    p.add_argument("--json", action="store_true", help="One JSON object per line.")
    p.add_argument("--verify", action="store_true", help="Check the hash chain.")


def run(args: argparse.Namespace) -> int:
    from lookout.cases.remote import outbox_path
    from lookout.config.app import load_config
    from lookout.report.audit import AuditLog
    from lookout.report.build import parse_bound

    cfg = load_config(args.config)
    out_dir = cfg.path(cfg.daemon.out_dir)
    db = outbox_path(cfg.sinks, out_dir) or out_dir / "console.db"
    if not db.is_file():
        raise SourceError(f"{db}: no audit log yet (the console writes it)")
    tz = cfg.site.tz
    start = None if args.start is None else parse_bound(args.start, tz, end=False).timestamp()
    end = None if args.end is None else parse_bound(args.end, tz, end=True).timestamp()
    log = AuditLog(db)
    try:
        if args.verify:
            broken = log.verify()
            if broken is not None:
                print(f"audit log {db}: the chain breaks at row {broken}")
                return 1
            print(f"audit log {db}: chain intact")
            return 0
        rows = log.entries(start, end, who=args.who, action=args.action, limit=10**9)
    finally:
        log.close()
    for e in rows:
        if args.json:
            print(json.dumps(e.json(tz), ensure_ascii=False))
            continue
        detail = " ".join(f"{k}={v}" for k, v in sorted(e.detail.items()) if v not in (None, ""))
        line = f"{e.when(tz)}  {e.who:<16} {e.role or '-':<8} {e.address:<15} {e.action:<13}"
        print(f"{line} {e.target} {detail}".rstrip())
    return 0
