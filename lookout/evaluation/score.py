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

A video scenario may name an object that stays put (`seen`: a parked vehicle, by box
or, in a far view, by the tile whose van it is): the harness then reports in how many
analysed frames the detections (after the region merge, as the zone rules get them)
hold it, `detected_fraction`, and the gate fails below its `min_fraction` — the "seen
in at least 95% of analysed frames" of docs/ARCHITECTURE.md, "Seeing small things".
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from lookout.base.errors import ConfigError
from lookout.base.events import EventType
from lookout.base.model import StrictModel
from lookout.base.secrets import expand_path
from lookout.base.yamlfile import load_model
from lookout.cases.model import DraftCase
from lookout.clips.composite import read_picture
from lookout.clips.far_view import Seen, SeenTally, far_view_clip, seen_target
from lookout.config.app import load_config
from lookout.detector.detections import Detections
from lookout.evaluation.overlays import CompositedReader, Compositor, Effect, Overlay
from lookout.evaluation.tracks import TracksConfig, run_tracks
from lookout.streams.file_reader import FileReader
from lookout.streams.frame import Frame


class TruthEvent(StrictModel):
    """One real violation in the footage."""

    type: EventType = Field(description="Event type.")
    zone: str = Field(description="Zone id the event happens in.")
    from_s: float = Field(ge=0, description="Start, seconds from the footage start.")
    to_s: float = Field(ge=0, description="End, seconds from the footage start.")


class ShedPatch(StrictModel):
    """A structure of real pixels: a box cut from a picture or a footage frame."""

    source: str = Field(description="Image or footage (relative: the scenario file).")
    frame: int = Field(default=0, ge=0, description="Frame index, when `source` is footage.")
    box: tuple[float, float, float, float] = Field(description="[x1, y1, x2, y2] in the source.")


class SurveyConfig(StrictModel):
    """A construction scenario: one real frame re-visited over simulated days."""

    frame_index: int = Field(default=0, ge=0, description="Frame of the video to survey.")
    zone: str = Field(description="Id of the construction-watch zone.")
    polygon: list[tuple[float, float]] = Field(description="Watch zone, image pixels.")
    shed: tuple[float, float, float, float] | None = Field(
        default=None, description="Box of a composited structure; null: lighting only."
    )
    shed_from: int = Field(default=2, ge=0, description="First visit showing the structure.")
    shed_patch: ShedPatch | None = Field(
        default=None, description="Real pixels scaled into `shed`; null: a drawn shed."
    )
    visits: int = Field(default=9, ge=2, description="Number of visits.")
    every_h: float = Field(default=12.0, gt=0, description="Hours between visits.")
    seed: int = Field(default=7, description="Random seed of lighting and shifts.")
    min_visits: int = Field(default=3, ge=1, description="Persistence: visits (K).")
    min_span_h: float = Field(default=48.0, ge=0, description="Persistence: hours (D).")


class FarView(StrictModel):
    """vtest scaled and tiled into a tower camera's frame (lookout/clips/far_view.py)."""

    width: int = Field(gt=0, description="Frame width.")
    height: int = Field(gt=0, description="Frame height.")
    scale: float = Field(gt=0, le=1, description="Scale of the vtest tiles.")
    seconds: float = Field(default=40.0, gt=0, description="Length of the clip.")


class Scenario(StrictModel):
    """A scored scenario."""

    name: str = Field(description="Scenario name.")
    kind: Literal["video", "construction", "tracks"] = Field(default="video", description="Kind.")
    description: str = Field(default="", description="What it shows.")
    video: str = Field(
        default="${LOOKOUT_ASSETS}/footage/vtest.avi",
        description="Footage (relative: the scenario file; ${LOOKOUT_ASSETS}).",
    )
    far_view: FarView | None = Field(
        default=None,
        description="Instead of `video`: a far-view clip made from vtest (tiled, scaled).",
    )
    config: str | None = Field(default=None, description="Config file (video scenarios).")
    camera: str | None = Field(default=None, description="Camera id (video scenarios).")
    survey: SurveyConfig | None = Field(default=None, description="Construction scenarios.")
    tracks: TracksConfig | None = Field(default=None, description="Synthetic-track scenes.")
    start: datetime = Field(description="Wall-clock time of the first frame.")
    stretch: tuple[float, float] | None = Field(
        default=None,
        description="Only this stretch of the footage, [from_s, to_s] (truth, overlay and "
        "case times stay counted from the footage's start).",
    )
    tolerance_s: float = Field(default=5.0, ge=0, description="Slack after an event's end.")
    truth: list[TruthEvent] = Field(default_factory=list, description="Ground-truth events.")
    seen: Seen | None = Field(
        default=None, description="An object that stays put: how often it is detected."
    )
    overlays: list[Overlay] = Field(
        default_factory=list, description="Patches of real pixels pasted into the frames."
    )
    effects: list[Effect] = Field(
        default_factory=list, description="Lighting ramp, rain, shake over the frames."
    )

    @model_validator(mode="after")
    def _van_needs_far_view(self) -> Scenario:
        if self.seen is not None and self.seen.van_tile is not None and self.far_view is None:
            raise ValueError("seen.van_tile needs far_view")
        if (self.overlays or self.effects) and self.kind != "video":
            raise ValueError("overlays and effects need a video scenario")
        return self


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


def match_cases(
    cases: Sequence[DraftCase], truth: Sequence[TruthEvent], start: datetime, tolerance_s: float
) -> list[tuple[DraftCase, int | None, bool]]:
    """Each case (by confirmation time) with the truth event it matches (None: a false
    positive) and whether that event was matched before (a duplicate)."""
    matched: dict[int, bool] = {}
    out: list[tuple[DraftCase, int | None, bool]] = []
    for case in sorted(cases, key=lambda c: c.confirmed_at):
        at = (case.confirmed_at - start).total_seconds()
        fits = [
            i
            for i, ev in enumerate(truth)
            if ev.type == case.type
            and ev.zone == case.zone_id
            and ev.from_s <= at <= ev.to_s + tolerance_s
        ]
        # Prefer an event not matched yet, then the one that started last (most specific).
        fits.sort(key=lambda i: (bool(matched.get(i)), -truth[i].from_s))
        hit = fits[0] if fits else None
        out.append((case, hit, hit is not None and bool(matched.get(hit))))
        if hit is not None:
            matched[hit] = True
    return out


def score(
    cases: Sequence[DraftCase], truth: Sequence[TruthEvent], start: datetime, tolerance_s: float
) -> dict[str, TypeScore]:
    """Match cases to truth events (see the module docstring)."""
    types = {t.type for t in truth} | {c.type for c in cases}
    out: dict[str, TypeScore] = {t: TypeScore() for t in sorted(types)}
    found: set[int] = set()
    for case, hit, duplicate in match_cases(cases, truth, start, tolerance_s):
        s = out[case.type]
        if hit is None:
            s.fp += 1
        elif duplicate:
            s.duplicates += 1
        else:
            found.add(hit)
            s.tp += 1
            at = (case.confirmed_at - start).total_seconds()
            s.time_to_detect_s.append(at - truth[hit].from_s)
    for i, ev in enumerate(truth):
        if i not in found:
            out[ev.type].fn += 1
    return out


def scenario_video(sc: Scenario, path: Path) -> Path:
    """The footage of the scenario at `path` (a far-view clip is made on first use)."""
    if sc.far_view is not None:
        fv = sc.far_view
        video = far_view_clip(fv.width, fv.height, fv.scale, seconds=fv.seconds)
    else:
        video = expand_path(sc.video, path.resolve().parent)
    if not video.is_file():
        raise ConfigError(f"{path}: video: file not found: {video}")
    FileReader.probe(video)  # one line for a file that is not a readable video
    return video


def run_scenario(
    path: Path, manifest: Path | None = None, out_dir: Path | None = None
) -> dict[str, object]:
    """Replay a scenario's footage with its config (and `manifest` instead of its
    model, for `lookout model compare`) and score the cases; `out_dir` keeps what the
    replay wrote (outbox, evidence), else a temporary folder takes it."""
    from lookout.runtime.replay import ReplayPipeline

    sc = load_model(path, Scenario, "scenario")
    base = path.resolve().parent
    video = scenario_video(sc, path)
    extra: dict[str, object] = {}
    if sc.kind == "tracks":
        if sc.tracks is None:
            raise ConfigError(f"{path}: tracks: needed for a tracks scenario")
        cases = run_tracks(sc.name, sc.tracks, sc.start)
    elif sc.kind == "construction":
        if sc.survey is None:
            raise ConfigError(f"{path}: survey: needed for a construction scenario")
        cases, pairs = _run_survey(sc, sc.survey, video, base)
        extra["before_after_pairs"] = pairs
    else:
        if sc.config is None or sc.camera is None:
            raise ConfigError(f"{path}: config and camera are needed for a video scenario")
        config = expand_path(sc.config, base)
        cfg = load_config(config)
        if manifest is not None:
            model = cfg.model.model_copy(update={"manifest": str(manifest.resolve())})
            cfg = cfg.model_copy(update={"model": model})
        compositor = Compositor(sc.overlays, sc.effects, base, str(path))
        with tempfile.TemporaryDirectory() as tmp:
            out = out_dir if out_dir is not None else Path(tmp)
            pipe = ReplayPipeline.from_config(cfg, sc.camera, out, config_source=str(config))
            tally = None
            if sc.seen is not None:
                det = pipe.detector
                scale = sc.far_view.scale if sc.far_view is not None else None
                target = seen_target(
                    sc.seen, pipe.camera, det.class_names, det.roles, scale=scale, where=str(path)
                )
                tally = SeenTally(target)
            observe = tally.observe if tally is not None else None
            reader = pipe.open_reader(video, sc.start)
            if compositor or sc.stretch is not None:
                reader = CompositedReader(reader, compositor, stretch=sc.stretch)
            stats = pipe.run(reader, on_detections=observe)
            cases = stats.cases
            images = stats.crops_run or stats.frames_inferred
            extra["images_per_s"] = round(images / stats.elapsed_s, 1) if stats.elapsed_s else None
        if tally is not None and sc.seen is not None:
            extra["seen"] = {
                "zone": sc.seen.zone,
                "box": [round(v, 1) for v in tally.target.box],
                "frames": tally.frames,
                "detected": tally.detected,
                "detected_fraction": round(tally.fraction, 3),
                "min_fraction": sc.seen.min_fraction,
            }
    scores = score(cases, sc.truth, sc.start, sc.tolerance_s)
    return {
        "scenario": sc.name,
        "description": sc.description,
        "cases": len(cases),
        "types": {t: s.row() for t, s in scores.items()},
        **extra,
    }


def _run_survey(
    sc: Scenario, survey: SurveyConfig, video: Path, base: Path
) -> tuple[list[DraftCase], int]:
    """Simulated visits through the production analysis (a construction policy in the
    zone engine, the case manager); the first visit becomes the reference."""
    import av

    from lookout.evaluation.tracks import scenario_analyser
    from lookout.zones.simulate import visits

    with av.open(str(video)) as container:
        for i, vf in enumerate(container.decode(video=0)):
            if i == survey.frame_index:
                frame = np.asarray(vf.to_ndarray(format="bgr24"), dtype=np.uint8)
                break
        else:
            raise ConfigError(f"{video}: has no frame {survey.frame_index}")
    patch = None
    if survey.shed_patch is not None:
        sp = survey.shed_patch
        x1, y1, x2, y2 = (round(v) for v in sp.box)
        try:
            patch = read_picture(expand_path(sp.source, base), sp.frame)[y1:y2, x1:x2]
        except ValueError as exc:
            raise ConfigError(f"survey.shed_patch: {exc}") from None
        if patch.shape[0] < 2 or patch.shape[1] < 2:
            raise ConfigError(f"survey.shed_patch.box: {list(sp.box)} is outside the source")
    seq = visits(
        frame,
        sc.start,
        shed=survey.shed,
        shed_from=survey.shed_from,
        shed_patch=patch,
        count=survey.visits,
        every_h=survey.every_h,
        seed=survey.seed,
    )
    zone = {
        "id": survey.zone,
        "polygon": survey.polygon,
        "policies": [
            {
                "type": "illegal_construction",
                "survey_interval_s": 60,  # every visit is a survey
                "min_visits": survey.min_visits,
                "min_span_h": survey.min_span_h,
            }
        ],
    }
    cases: list[DraftCase] = []
    with scenario_analyser(sc.name, [zone], ["person"], {}, sc.start) as analyser:
        for i, (at, image) in enumerate(seq):
            t = (at - seq[0][0]).total_seconds()
            cases += analyser.process(Frame(sc.name, i, t, at, t, image), Detections.empty())
    pairs = sum(
        1
        for c in cases
        if any("before" in e for e in c.evidence) and any("after" in e for e in c.evidence)
    )
    return cases, pairs


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
    seen = [(r["scenario"], r["seen"]) for r in results if isinstance(r.get("seen"), dict)]
    if seen:
        lines += [
            "",
            "| scenario | object seen in zone | analysed frames | detected | fraction |",
            "|---|---|---|---|---|",
        ]
        for name, s in seen:
            assert isinstance(s, dict)
            lines.append(
                f"| {name} | {s['zone']} {s['box']} | {s['frames']} | {s['detected']} | "
                f"{s['detected_fraction']} |"
            )
    return "\n".join(lines)


def below_baseline(results: Sequence[dict[str, object]], baseline: dict[str, object]) -> list[str]:
    """Scenario/type pairs whose precision or recall dropped below the baseline, and
    scenarios whose `seen` object was detected in too few analysed frames."""
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
        seen = r.get("seen")
        if isinstance(seen, dict) and seen["detected_fraction"] < seen["min_fraction"]:
            problems.append(
                f"{r['scenario']} seen in {seen['detected_fraction']} of analysed frames "
                f"< {seen['min_fraction']}"
            )
    return problems


def dump(results: Sequence[dict[str, object]]) -> str:
    return json.dumps(list(results), indent=2, ensure_ascii=False, default=str)
