"""`lookout report`: the period report as files (report.html, report.csv, cases.csv).

    lookout report --from DATE --to DATE [--config FILE | --out DIR | --db FILE]
                   [--report-dir DIR] [--history FILE] [--timezone TZ] [--lang zh-CN|en]

The period holds the cases confirmed in it: `--from` a date is that day's start, `--to`
a date that day's end, in the site's time zone (lookout/report/build.py). The report's
language is `--lang`, else the config's `daemon.http.console.language`, else English;
its title names the site (`site.name` of the config) when one is set
(docs/CASE_STATUS.md, "Report")."""

from __future__ import annotations

import argparse
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from lookout.base.errors import LookoutError
from lookout.base.i18n import LANGUAGES, Language, language
from lookout.report.build import DEFAULT_TZ, build_report, parse_bound


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="start", required=True, help="First day (or ISO time).")
    p.add_argument("--to", dest="end", required=True, help="Last day (or ISO time, exclusive).")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--config", type=Path, help="Configuration YAML (its daemon.out_dir).")
    where.add_argument("--out", type=Path, help="Output folder of the daemon or a replay.")
    where.add_argument("--db", type=Path, help="SQLite outbox file.")
    p.add_argument("--report-dir", type=Path, help="Where to write (default: OUT/reports/...).")
    p.add_argument("--history", type=Path, help="Camera history (default: OUT/console.db).")
    p.add_argument("--timezone", help=f"Site time zone without --config (default {DEFAULT_TZ}).")
    p.add_argument(
        "--lang",
        help=f"Language of the report: {' or '.join(LANGUAGES)} (default: the config's"
        " daemon.http.console.language, else en).",
    )


#: `site.name` when a config does not set one: no site in the title.
_UNNAMED = "site"


def run(args: argparse.Namespace) -> int:
    """Write report.html, report.csv and cases.csv; print where and the key figures."""
    from lookout.config.app import load_config
    from lookout.report.figures import open_history
    from lookout.report.render import write_report
    from lookout.runtime.services import open_review

    lang: Language = "en"
    site = None
    if args.lang is not None:
        try:
            lang = language(args.lang)
        except ValueError as exc:
            raise LookoutError(f"--lang: {exc}") from None
    if args.config is not None:
        cfg = load_config(args.config)
        out_dir = cfg.path(cfg.daemon.out_dir)
        tz: tzinfo = cfg.site.tz
        if args.lang is None:
            lang = cfg.daemon.http.console.language
        site = cfg.site.name if cfg.site.name != _UNNAMED else None
        review = open_review(config=cfg)
    else:
        try:
            tz = ZoneInfo(args.timezone or DEFAULT_TZ)
        except (ValueError, KeyError):
            raise LookoutError(f"--timezone: unknown time zone {args.timezone!r}") from None
        out_dir = args.db.parent if args.db is not None else (args.out or Path("out"))
        review = open_review(out=args.out, db=args.db)
    with review:
        start = parse_bound(args.start, tz, end=False)
        end = parse_bound(args.end, tz, end=True)
        history = open_history(args.history or out_dir / "console.db")
        try:
            report = build_report(review, start, end, history, tz=tz, site=site)
        finally:
            if history is not None:
                history.close()
    folder = args.report_dir or out_dir / "reports" / f"{start:%Y%m%d}-{end:%Y%m%d}"
    paths = write_report(report, folder, lang)
    rate = report.confirmation_rate
    print(
        f"{report.total} case(s) from {start.isoformat()} to {end.isoformat()};"
        f" confirmed {report.confirmed}, false alarms {report.false_alarm},"
        f" confirmation rate {'–' if rate is None else f'{rate:.1%}'}"
    )
    for path in paths:
        print(f"wrote {path}")
    return 0
