"""`lookout eval SCENARIO...`: score the cases a scenario produces against its
ground-truth events, per event type: precision, recall, duplicates, time to detect.

A scenario (YAML, see scenarios/) names footage, a config, a camera, a start time and
the ground-truth events (type, zone, interval in seconds from the start). A case
matches a truth event of the same type and zone confirmed inside its interval (plus
`tolerance_s`). Per type: tp = truth events matched, fn = truth events missed,
fp = cases matching no truth event, duplicates = further cases matching an already
matched event. precision = tp / (tp + fp) (1.0 with no cases), recall = tp / (tp + fn)
(1.0 with no truth events), time to detect = first matching case's confirmed_at minus
the event's start.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cases.model import DraftCase
from lookout.assets import expand_path
from lookout.config import EventType, load_config
from lookout.errors import ConfigError
from lookout.yamlfile import load_model


class TruthEvent(BaseModel):
    """One real violation in the footage."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: EventType = Field(description="Event type.")
    zone: str = Field(description="Zone id the event happens in.")
    from_s: float = Field(ge=0, description="Start, seconds from the footage start.")
    to_s: float = Field(ge=0, description="End, seconds from the footage start.")


class Scenario(BaseModel):
    """A scored scenario."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(description="Scenario name.")
    kind: Literal["video"] = Field(default="video", description="Scenario kind.")
    description: str = Field(default="", description="What it shows.")
    video: str = Field(description="Footage (relative: the scenario file; ${LOOKOUT_ASSETS}).")
    config: str = Field(description="Config file (relative: the scenario file).")
    camera: str = Field(description="Camera id in the config.")
    start: datetime = Field(description="Wall-clock time of the first frame.")
    tolerance_s: float = Field(default=5.0, ge=0, description="Slack after an event's end.")
    truth: list[TruthEvent] = Field(default_factory=list, description="Ground-truth events.")


@dataclass(slots=True)
class TypeScore:
    """Scores of one event type in one scenario."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    duplicates: int = 0
    time_to_detect_s: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def row(self) -> dict[str, float | int | None]:
        ttd = self.time_to_detect_s
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "duplicates": self.duplicates,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "time_to_detect_s": round(sum(ttd) / len(ttd), 1) if ttd else None,
        }


def score(
    cases: Sequence[DraftCase], truth: Sequence[TruthEvent], start: datetime, tolerance_s: float
) -> dict[str, TypeScore]:
    """Match cases to truth events (see the module docstring)."""
    types = {t.type for t in truth} | {c.type for c in cases}
    out: dict[str, TypeScore] = {t: TypeScore() for t in sorted(types)}
    matched: dict[int, bool] = {}
    for case in sorted(cases, key=lambda c: c.confirmed_at):
        at = (case.confirmed_at - start).total_seconds()
        hit = next(
            (
                i
                for i, ev in enumerate(truth)
                if ev.type == case.type
                and ev.zone == case.zone_id
                and ev.from_s <= at <= ev.to_s + tolerance_s
            ),
            None,
        )
        s = out[case.type]
        if hit is None:
            s.fp += 1
        elif matched.get(hit):
            s.duplicates += 1
        else:
            matched[hit] = True
            s.tp += 1
            s.time_to_detect_s.append(at - truth[hit].from_s)
    for i, ev in enumerate(truth):
        if not matched.get(i):
            out[ev.type].fn += 1
    return out


def run_scenario(path: Path) -> dict[str, object]:
    """Replay a scenario's footage with its config and score the cases."""
    from lookout.pipeline import ReplayPipeline

    sc = load_model(path, Scenario, "scenario")
    base = path.resolve().parent
    video = expand_path(sc.video, base)
    config = expand_path(sc.config, base)
    if not video.is_file():
        raise ConfigError(f"{path}: video: file not found: {video}")
    cfg = load_config(config)
    with tempfile.TemporaryDirectory() as tmp:
        pipe = ReplayPipeline.from_config(cfg, sc.camera, Path(tmp), config_source=str(config))
        stats = pipe.run(pipe.open_reader(video, sc.start))
    scores = score(stats.cases, sc.truth, sc.start, sc.tolerance_s)
    return {
        "scenario": sc.name,
        "description": sc.description,
        "cases": len(stats.cases),
        "types": {t: s.row() for t, s in scores.items()},
    }


def table(results: Sequence[dict[str, object]]) -> str:
    lines = [
        "| scenario | type | cases | tp | fp | fn | duplicates | precision | recall | "
        "time to detect s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        types = r["types"]
        assert isinstance(types, dict)
        if not types:
            lines.append(f"| {r['scenario']} | – | 0 | 0 | 0 | 0 | 0 | 1.0 | 1.0 | – |")
        for t, row in types.items():
            lines.append(
                f"| {r['scenario']} | {t} | {r['cases']} | {row['tp']} | {row['fp']} | "
                f"{row['fn']} | {row['duplicates']} | {row['precision']} | {row['recall']} | "
                f"{row['time_to_detect_s'] if row['time_to_detect_s'] is not None else '–'} |"
            )
    return "\n".join(lines)


def below_baseline(results: Sequence[dict[str, object]], baseline: dict[str, object]) -> list[str]:
    """Scenario/type pairs whose precision or recall dropped below the baseline."""
    problems = []
    for r in results:
        base = baseline.get(str(r["scenario"]), {})
        assert isinstance(base, dict)
        types = r["types"]
        assert isinstance(types, dict)
        perfect = {"precision": 1.0, "recall": 1.0}
        # A type the baseline does not list was never seen there: it must stay perfect
        # (a negative scenario that starts producing cases fails).
        for t in set(base) | set(types):
            want, got = base.get(t, perfect), types.get(t, perfect)
            for metric in ("precision", "recall"):
                if got[metric] < want[metric]:
                    problems.append(f"{r['scenario']} {t} {metric} {got[metric]} < {want[metric]}")
    return problems


def dump(results: Sequence[dict[str, object]]) -> str:
    return json.dumps(list(results), indent=2, ensure_ascii=False, default=str)
