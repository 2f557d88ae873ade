"""`lookout model compare A B`: two model manifests through the same scenarios, side by
side (docs/LEARNING.md, "Judging a model").

Each scenario (lookout/evaluation/score.py) is replayed twice with its own config, once
with manifest A and once with B in place of the config's model. Per scenario and event
type: precision, recall, duplicates and time to detect of each, and the images per
second each model ran at (video scenarios; measured in the same run, so comparable).
B **loses** a scenario type when its precision or recall is lower than A's or it makes
more duplicates; the command exits 1 when B loses anywhere, so a new model is installed
(the config's `model:`, through the round-trip writer) only after it passed.
Scenarios that do not use the model (construction surveys, synthetic tracks) give the
same figures for both and are kept for completeness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookout.base.errors import ConfigError
from lookout.detector.manifest import load_manifest
from lookout.evaluation.score import run_scenario


@dataclass(frozen=True, slots=True)
class Side:
    """One model's figures for one scenario type."""

    precision: float
    recall: float
    duplicates: int
    time_to_detect_s: float | None

    @classmethod
    def of(cls, row: dict[str, Any] | None) -> Side:
        if row is None:  # no case and no truth of that type: perfect by definition
            return cls(1.0, 1.0, 0, None)
        return cls(row["precision"], row["recall"], row["duplicates"], row["time_to_detect_s"])


@dataclass(frozen=True, slots=True)
class Row:
    """A scenario type with both models' figures; `loses`: what B does worse."""

    scenario: str
    type: str
    a: Side
    b: Side
    a_images_per_s: float | None
    b_images_per_s: float | None

    @property
    def loses(self) -> list[str]:
        out = []
        if self.b.precision < self.a.precision:
            out.append("precision")
        if self.b.recall < self.a.recall:
            out.append("recall")
        if self.b.duplicates > self.a.duplicates:
            out.append("duplicates")
        return out


@dataclass(slots=True)
class Comparison:
    """Both manifests over the scenarios."""

    a: Path
    b: Path
    rows: list[Row] = field(default_factory=list)

    @property
    def losses(self) -> list[str]:
        return [
            f"{r.scenario} {r.type}: B's {', '.join(r.loses)} worse than A's"
            for r in self.rows
            if r.loses
        ]

    def table(self) -> str:
        lines = [
            f"A = {self.a}",
            f"B = {self.b}",
            "",
            "| scenario | type | precision A / B | recall A / B | duplicates A / B | "
            "time to detect s A / B | images/s A / B | B |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.scenario} | {r.type} | {r.a.precision} / {r.b.precision} | "
                f"{r.a.recall} / {r.b.recall} | {r.a.duplicates} / {r.b.duplicates} | "
                f"{_fmt(r.a.time_to_detect_s)} / {_fmt(r.b.time_to_detect_s)} | "
                f"{_fmt(r.a_images_per_s)} / {_fmt(r.b_images_per_s)} | "
                f"{'loses: ' + ', '.join(r.loses) if r.loses else 'ok'} |"
            )
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "a": str(self.a),
            "b": str(self.b),
            "rows": [
                {
                    "scenario": r.scenario,
                    "type": r.type,
                    "a": vars_of(r.a),
                    "b": vars_of(r.b),
                    "a_images_per_s": r.a_images_per_s,
                    "b_images_per_s": r.b_images_per_s,
                    "loses": r.loses,
                }
                for r in self.rows
            ],
            "losses": self.losses,
        }


def vars_of(side: Side) -> dict[str, Any]:
    return {
        "precision": side.precision,
        "recall": side.recall,
        "duplicates": side.duplicates,
        "time_to_detect_s": side.time_to_detect_s,
    }


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:g}"


def _speed(result: dict[str, object]) -> float | None:
    v = result.get("images_per_s")
    return float(v) if isinstance(v, int | float) else None


def compare(a: Path, b: Path, scenarios: Sequence[Path]) -> Comparison:
    """Replay every scenario with manifest `a`, then with `b` (one line and
    `ConfigError` for a manifest or scenario that cannot be used)."""
    for manifest in (a, b):
        if not manifest.is_file():
            raise ConfigError(f"{manifest}: model manifest not found")
        load_manifest(manifest)  # one line for a manifest that is not usable
    if not scenarios:
        raise ConfigError("no scenarios to compare on")
    out = Comparison(a, b)
    for path in scenarios:
        ra, rb = run_scenario(path, a), run_scenario(path, b)
        ta, tb = ra["types"], rb["types"]
        assert isinstance(ta, dict) and isinstance(tb, dict)
        for t in sorted(set(ta) | set(tb)) or ["–"]:
            out.rows.append(
                Row(
                    str(ra["scenario"]),
                    t,
                    Side.of(ta.get(t)),
                    Side.of(tb.get(t)),
                    _speed(ra),
                    _speed(rb),
                )
            )
    return out
