"""The second look judged on scenarios (docs/LEARNING.md, "The second look"):
`lookout eval --second-look SCENARIO...`.

Each scenario is replayed into a folder of its own (its config must leave
`second_look.enabled` on, as by default), and each case it made is labelled by the
scenario's truth as an operator would judge it: a case matching a truth event is
confirmed, any other case a false alarm. Then, leaving one scenario out at a time, the
classifier is fitted on the other scenarios' cases (cases/learn.py `fit_type`, the fit
`lookout verdicts learn` makes) and scores the left-out one's: how many of its false
alarms would be held, and how many of its real cases would still be proposed, at the
threshold. A scenario whose real case stands at a place no other scenario has shows
whether the second look generalises beyond the places it was taught.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lookout.base.yamlfile import load_model
from lookout.cases.learn import fit_type
from lookout.cases.second_look import as_vector
from lookout.cases.sinks import SqliteOutbox
from lookout.evaluation.score import Scenario, match_cases, run_scenario


@dataclass(frozen=True, slots=True)
class Judged:
    """One case of a scenario, labelled by the truth."""

    scenario: str
    case_id: str
    type: str
    zone_id: str
    false_alarm: bool
    vector: np.ndarray = field(repr=False)


def gather(path: Path, out_dir: Path) -> list[Judged]:
    """Replay the scenario into `out_dir`; its cases with their embeddings and labels."""
    sc = load_model(path, Scenario, "scenario")
    run_scenario(path, out_dir=out_dir)
    outbox = SqliteOutbox.open(out_dir / "cases.db")
    try:
        cases = list(outbox.cases())
        vectors = {
            str(cid): as_vector(blob)
            for cid, blob in outbox.fetch("SELECT case_id, embedding FROM second_look")
        }
    finally:
        outbox.close()
    judged = []
    for case, hit, _ in match_cases(cases, sc.truth, sc.start, sc.tolerance_s):
        if case.id in vectors:
            fa = hit is None
            judged.append(Judged(sc.name, case.id, case.type, case.zone_id, fa, vectors[case.id]))
    return judged


@dataclass(frozen=True, slots=True)
class Fold:
    """The left-out scenario's cases scored by a fit on all the others."""

    scenario: str
    false_alarms: int
    held: int  # of the false alarms
    real: int
    proposed: int  # of the real cases, not held
    scores: tuple[tuple[str, bool, float], ...]  # (zone, false alarm, score) per case


def leave_one_out(judged: Sequence[Judged], threshold: float) -> list[Fold]:
    """One fold per scenario (per case type the fit needs both kinds in training)."""
    folds = []
    for name in sorted({j.scenario for j in judged}):
        test = [j for j in judged if j.scenario == name]
        train = [j for j in judged if j.scenario != name]
        scored: list[tuple[str, bool, float]] = []
        for ctype in sorted({j.type for j in test}):
            mine = [j for j in train if j.type == ctype]
            y = np.array([int(j.false_alarm) for j in mine])
            if not len(y) or y.min() == y.max():
                continue  # nothing to learn this type from
            fit = fit_type(np.stack([j.vector for j in mine]), y, threshold, cross_validate=False)
            for j in test:
                if j.type == ctype:
                    scored.append((j.zone_id, j.false_alarm, fit.score(j.vector)))
        fa = [s for _, f, s in scored if f]
        real = [s for _, f, s in scored if not f]
        folds.append(
            Fold(
                scenario=name,
                false_alarms=len(fa),
                held=sum(s >= threshold for s in fa),
                real=len(real),
                proposed=sum(s < threshold for s in real),
                scores=tuple(scored),
            )
        )
    return folds


def evaluate(paths: Sequence[Path], threshold: float) -> tuple[list[Judged], list[Fold]]:
    """Gather every scenario's cases, then the leave-one-scenario-out folds."""
    judged: list[Judged] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(paths):
            judged += gather(path, Path(tmp) / f"{i:03d}")
    return judged, leave_one_out(judged, threshold)


def table(folds: Sequence[Fold], threshold: float) -> str:
    """Markdown: per left-out scenario, false alarms held and real cases proposed."""
    lines = [
        f"| left out | false alarms held (score ≥ {threshold:.2f}) | real cases proposed |"
        " scores (zone: false alarm / real) |",
        "|---|---|---|---|",
    ]
    for f in folds:
        scores = ", ".join(f"{z}: {'FA' if fa else 'real'} {s:.2f}" for z, fa, s in f.scores)
        lines.append(
            f"| {f.scenario} | {f.held}/{f.false_alarms} | {f.proposed}/{f.real} | {scores} |"
        )
    fa = sum(f.false_alarms for f in folds)
    real = sum(f.real for f in folds)
    held = sum(f.held for f in folds)
    proposed = sum(f.proposed for f in folds)
    lines.append(f"| **all** | **{held}/{fa}** | **{proposed}/{real}** | |")
    return "\n".join(lines)
