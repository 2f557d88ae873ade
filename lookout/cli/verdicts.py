"""`lookout verdicts learn`: fit the second look on the operators' verdicts
(docs/LEARNING.md, "The second look").

    lookout verdicts learn (--config FILE | --out-dir DIR) [--threshold P]
        [--min-verdicts N] [--json]

Reads the embeddings and verdicts of the outbox (`daemon.out_dir` of `--config`, or
`--out-dir`'s cases.db) made with the config's model (with `--out-dir`: the model most
cases were embedded with), fits one classifier per case type that has at least N
confirmed and N false-alarm verdicts, prints the cross-validated precision and recall
of holding at the threshold, and writes the fit beside the outbox (`second_look.file`).
A running daemon, and a replay, take the new fit at their next case. Exit 0 when the
fit was written (a type without enough verdicts stays off), 2 when there is no outbox.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lookout.base.errors import SourceError
from lookout.cli.parsing import subcommands


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = subcommands(parser, "verdicts_command")
    p = group.add_parser("learn", help="Fit the second look on the verdicts in the outbox.")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", type=Path, help="Configuration YAML (its daemon.out_dir).")
    where.add_argument("--out-dir", type=Path, help="Output folder of a replay or the daemon.")
    p.add_argument(
        "--threshold", type=_probability, help="Hold at this false-alarm probability (0-1]."
    )
    p.add_argument(
        "--min-verdicts", type=_at_least_two, help="Verdicts of each kind a type needs (>= 2)."
    )
    p.add_argument("--json", action="store_true", help="Print the result as JSON.")


def run(args: argparse.Namespace) -> int:
    from lookout.cases.learn import learn
    from lookout.cases.remote import outbox_path
    from lookout.cases.second_look import fit_path
    from lookout.cases.settings import SecondLookConfig
    from lookout.cases.sinks import SqliteOutbox
    from lookout.config.app import load_config

    backbone = None
    if args.config is not None:
        from lookout.runtime.services import current_backbone

        cfg = load_config(args.config)
        out_dir = cfg.path(cfg.daemon.out_dir)
        db = outbox_path(cfg.sinks, out_dir)
        settings = cfg.second_look
        backbone = current_backbone(cfg)  # the model in use, not an older one
    else:
        out_dir = args.out_dir
        db = out_dir / "cases.db"
        settings = SecondLookConfig()
    updates = {}
    if args.threshold is not None:
        updates["threshold"] = args.threshold
    if args.min_verdicts is not None:
        updates["min_verdicts"] = args.min_verdicts
    if updates:
        settings = SecondLookConfig.model_validate({**settings.model_dump(), **updates})
    if db is None or not db.is_file():
        raise SourceError(f"{db or out_dir}: outbox not found (verdicts live in the sqlite outbox)")
    outbox = SqliteOutbox.open(db)
    try:
        result = learn(outbox, settings, fit_path(settings, out_dir), backbone)
    finally:
        outbox.close()
    if args.json:
        print(json.dumps(_as_json(result), ensure_ascii=False))
        return 0
    if result.path is None:
        print(f"no judged case with an embedding in {db} yet; nothing fitted")
        return 0
    print(
        f"second look: {result.samples} judged case(s), backbone {result.model}"
        f" at {result.output}; threshold {settings.threshold:.2f}"
    )
    print(f"{'type':<20} {'confirmed':>9} {'false alarms':>12} {'precision':>9} {'recall':>7}")
    for r in result.reports:
        p = r.fit.precision if r.fit is not None else None
        rc = r.fit.recall if r.fit is not None else None
        state = "fitted" if r.fit is not None else f"off ({r.why})"
        print(
            f"{r.type:<20} {r.confirmed:>9} {r.false_alarms:>12} {_num(p):>9} {_num(rc):>7}"
            f"  {state}"
        )
    print(f"written: {result.path}")
    return 0


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"a probability in (0, 1] is needed, got {text!r}")
    return value


def _at_least_two(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(f"a whole number of at least 2 is needed, got {text!r}")
    return value


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _as_json(result: object) -> dict[str, object]:
    from lookout.cases.learn import LearnResult

    assert isinstance(result, LearnResult)
    return {
        "path": None if result.path is None else str(result.path),
        "model": result.model,
        "output": result.output,
        "samples": result.samples,
        "types": {
            r.type: {
                "confirmed": r.confirmed,
                "false_alarms": r.false_alarms,
                "fitted": r.fit is not None,
                "precision": None if r.fit is None else r.fit.precision,
                "recall": None if r.fit is None else r.fit.recall,
                "why": r.why or None,
            }
            for r in result.reports
        },
    }
