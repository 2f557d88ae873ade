"""`lookout eval SCENARIO... [--json FILE] [--baseline FILE [--update-baseline]]`: score
the cases each scenario produces against its ground truth (lookout/evaluation/score.py);
exit 1 when a precision or recall falls below the baseline.

`lookout eval --second-look [--threshold P] SCENARIO...`: the second look left one
scenario out at a time (lookout/evaluation/second_look.py): the left-out scenario's
false alarms held and real cases still proposed by a fit on the others."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lookout.base.errors import SourceError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenarios", nargs="+", type=Path, help="Scenario YAML files.")
    p.add_argument("--json", type=Path, help="Write the scores as JSON here.")
    p.add_argument(
        "--baseline",
        type=Path,
        help="Fail (exit 1) when a precision or recall is below this baseline.",
    )
    p.add_argument(
        "--second-look",
        action="store_true",
        help="Leave-one-scenario-out figures of the second look instead of the scores.",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=0.8,
        help="With --second-look: hold at this false-alarm probability (default 0.8).",
    )
    p.add_argument(
        "--update-baseline",
        action="store_true",
        help="Write the scores as the new baseline (with --baseline).",
    )


def run(args: argparse.Namespace) -> int:
    import json

    from lookout.evaluation.score import below_baseline, dump, run_scenario, table

    if args.second_look:
        from lookout.evaluation.second_look import evaluate
        from lookout.evaluation.second_look import table as loso_table

        if not 0 < args.threshold <= 1:
            raise SourceError(
                f"--threshold: a probability in (0, 1] is needed, got {args.threshold}"
            )
        judged, folds = evaluate(args.scenarios, args.threshold)
        fa = sum(j.false_alarm for j in judged)
        print(f"{len(judged)} case(s): {fa} false alarm(s), {len(judged) - fa} real")
        print(loso_table(folds, args.threshold))
        return 0
    results = [run_scenario(p) for p in args.scenarios]
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(dump(results))
    if args.baseline is None:
        return 0
    if args.update_baseline:
        base = {
            str(r["scenario"]): {
                t: {"precision": row["precision"], "recall": row["recall"]}
                for t, row in r["types"].items()  # type: ignore[attr-defined]
            }
            for r in results
        }
        args.baseline.write_text(json.dumps(base, indent=2, ensure_ascii=False) + "\n")
        print(f"baseline written: {args.baseline}")
        return 0
    if not args.baseline.is_file():
        raise SourceError(f"{args.baseline}: baseline not found")
    problems = below_baseline(results, json.loads(args.baseline.read_text()))
    for p in problems:
        print(f"REGRESSION: {p}", file=sys.stderr)
    return 1 if problems else 0
