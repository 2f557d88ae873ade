"""The period report (cases, verdicts, time to detect, camera uptime), as `lookout
report` (lookout/cli/report.py) and the console's report page build it.

Figures come from the outbox (cases and verdicts) and the console's history store
(`OUT/console.db`: camera uptime and video quality incidents), see
docs/CASE_STATUS.md "Report". The period holds the cases confirmed in it: `--from` a
date is that day's start, `--to` a date that day's end, in the site's time zone; full
ISO 8601 times are taken as they are (`--to` exclusive). `build_report` is what the
console's report page calls; `lookout/report/render.py` writes HTML and CSV.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from lookout.base.errors import LookoutError
from lookout.cases.verdicts import CaseFilter, CaseReview
from lookout.report.figures import CameraFigures, CameraHistory

DEFAULT_TZ = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class GroupCount:
    """Cases of one group (type, grid cell, unit, camera) by current judgement."""

    key: str
    label: str
    cases: int
    confirmed: int
    false_alarm: int
    unjudged: int


@dataclass(frozen=True, slots=True)
class DetectTimes:
    """Seconds from the object's first sighting (`first_seen`) to the case
    (`confirmed_at`), over the cases of one type (or "all")."""

    type: str
    n: int
    median_s: float | None
    mean_s: float | None
    p90_s: float | None
    max_s: float | None


@dataclass(frozen=True, slots=True)
class CaseLine:
    """One case as the report lists it (cases.csv)."""

    id: str
    type: str
    code: str
    camera_id: str
    zone_id: str
    grid_code: str | None
    grid_unit: str | None
    first_seen: datetime
    confirmed_at: datetime
    status: str
    judgement: str  # confirmed | false_alarm | unjudged
    verdict_by: str | None


@dataclass(frozen=True, slots=True)
class Report:
    """Every figure of a period report."""

    start: datetime
    end: datetime  # exclusive
    generated_at: datetime
    tz: tzinfo  # the site's: days, dates and times are written in it
    site: str | None  # the site's name, for the title (None: none configured)
    total: int
    by_status: dict[str, int]
    by_type: list[GroupCount]
    by_grid: list[GroupCount]
    by_unit: list[GroupCount]
    by_camera: list[GroupCount]
    per_day: list[tuple[date, dict[str, int]]]
    confirmed: int
    false_alarm: int
    detect: list[DetectTimes]
    cameras: list[CameraFigures] | None  # None: no history store
    quality_recorded: bool
    cases: list[CaseLine]

    @property
    def confirmation_rate(self) -> float | None:
        """confirmed / (confirmed + false_alarm); None before any judgement."""
        judged = self.confirmed + self.false_alarm
        return self.confirmed / judged if judged else None

    @property
    def uptime(self) -> float | None:
        """Streaming share of the sampled time over every camera (None: no history,
        or nothing sampled)."""
        observed = sum(c.observed_s for c in self.cameras or [])
        streaming = sum(c.streaming_s for c in self.cameras or [])
        return streaming / observed if observed > 0 else None

    @property
    def quality_incidents(self) -> int | None:
        """Video quality incidents of every camera (None: not recorded)."""
        if self.cameras is None or any(c.incidents is None for c in self.cameras):
            return None
        return sum(sum((c.incidents or {}).values()) for c in self.cameras)

    @property
    def first_day(self) -> date:
        return self.start.astimezone(self.tz).date()

    @property
    def last_day(self) -> date:
        """The period's last day (its end is exclusive)."""
        return (self.end - timedelta(microseconds=1)).astimezone(self.tz).date()

    @property
    def whole_days(self) -> bool:
        """Whether the period runs from a day's start to a day's start (site time)."""
        return all(
            b.astimezone(self.tz).timetz().replace(tzinfo=None) == time()
            for b in (self.start, self.end)
        )


def _judgements(review: CaseReview, start: datetime, end: datetime) -> dict[str, str]:
    """Case id → the latest of its confirmed / false_alarm verdicts (a case only
    closed, or still a draft, is absent: not judged)."""
    rows = review.outbox.fetch(
        "SELECT v.case_id, v.status FROM verdicts v JOIN cases c ON c.id = v.case_id"
        " WHERE julianday(c.confirmed_at) >= julianday(?)"
        " AND julianday(c.confirmed_at) < julianday(?)"
        " AND v.status IN ('confirmed', 'false_alarm') ORDER BY v.case_id, v.version",
        (start.isoformat(), end.isoformat()),
    )
    return {str(case_id): str(status) for case_id, status in rows}  # the last one wins


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _detect(kind: str, values: list[float]) -> DetectTimes:
    if not values:
        return DetectTimes(kind, 0, None, None, None, None)
    return DetectTimes(
        kind,
        len(values),
        round(statistics.median(values), 1),
        round(statistics.fmean(values), 1),
        round(_percentile(values, 0.9), 1),
        round(max(values), 1),
    )


def _groups(lines: list[CaseLine], key_label: dict[str, str], keys: list[str]) -> list[GroupCount]:
    n: Counter[str] = Counter(keys)
    judged: dict[str, Counter[str]] = defaultdict(Counter)
    for line, key in zip(lines, keys, strict=True):
        judged[key][line.judgement] += 1
    out = [
        GroupCount(
            key,
            key_label.get(key, ""),
            n[key],
            judged[key]["confirmed"],
            judged[key]["false_alarm"],
            judged[key]["unjudged"],
        )
        for key in n
    ]
    return sorted(out, key=lambda g: (-g.cases, g.key))


def build_report(
    review: CaseReview,
    start: datetime,
    end: datetime,
    history: CameraHistory | None = None,
    *,
    tz: tzinfo,
    generated_at: datetime | None = None,
    site: str | None = None,
) -> Report:
    """The figures of the cases confirmed in [start, end) and of the cameras then."""
    if end <= start:
        raise LookoutError(f"report period is empty: {start.isoformat()} to {end.isoformat()}")
    rows = review.cases(CaseFilter(since=start, until=end))
    judgement = _judgements(review, start, end)
    lines = [
        CaseLine(
            id=r.case.id,
            type=r.case.type,
            code=r.case.code,
            camera_id=r.case.camera_id,
            zone_id=r.case.zone_id,
            grid_code=r.case.grid_code,
            grid_unit=r.case.grid_unit,
            first_seen=r.case.first_seen,
            confirmed_at=r.case.confirmed_at,
            status=r.status,
            judgement=judgement.get(r.case.id, "unjudged"),
            verdict_by=r.verdict.by if r.verdict else None,
        )
        for r in rows
    ]
    codes = {ln.type: ln.code for ln in lines}
    units = {ln.grid_code or "": ln.grid_unit or "" for ln in lines}
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    for ln in lines:
        per_day[ln.confirmed_at.astimezone(tz).date()][ln.type] += 1
    days = []
    day = start.astimezone(tz).date()
    while datetime.combine(day, time(), tz) < end:
        days.append((day, dict(per_day.get(day, {}))))
        day += timedelta(days=1)
    seconds: dict[str, list[float]] = defaultdict(list)
    for ln in lines:
        s = (ln.confirmed_at - ln.first_seen).total_seconds()
        seconds[ln.type].append(s)
        seconds["all"].append(s)
    cameras = quality = None
    if history is not None:
        cameras = history.cameras(start, end)
        quality = history.quality_recorded()
    return Report(
        start=start,
        end=end,
        generated_at=generated_at or datetime.now(tz),
        tz=tz,
        site=site or None,
        total=len(lines),
        by_status=dict(Counter(ln.status for ln in lines)),
        by_type=_groups(lines, codes, [ln.type for ln in lines]),
        by_grid=_groups(lines, units, [ln.grid_code or "" for ln in lines]),
        by_unit=_groups(lines, {}, [ln.grid_unit or "" for ln in lines]),
        by_camera=_groups(lines, {}, [ln.camera_id for ln in lines]),
        per_day=days,
        confirmed=sum(ln.judgement == "confirmed" for ln in lines),
        false_alarm=sum(ln.judgement == "false_alarm" for ln in lines),
        detect=[_detect(k, seconds[k]) for k in sorted(seconds, key=lambda k: (k == "all", k))],
        cameras=cameras,
        quality_recorded=bool(quality),
        cases=lines,
    )


#: The years a period may lie in.
FIRST_YEAR, LAST_YEAR = 1970, 2200


def parse_bound(text: str, tz: tzinfo, *, end: bool) -> datetime:
    """A date (the day's start; for `end` the next day's start) or an ISO 8601 time
    (naive: in `tz`), from the years FIRST_YEAR to LAST_YEAR (a date beyond would
    overflow the time arithmetic after it)."""
    flag = "--to" if end else "--from"
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            value = datetime.combine(day + timedelta(days=1 if end else 0), time(), tz)
        else:
            value = datetime.fromisoformat(text.strip())
    except (ValueError, OverflowError):
        raise LookoutError(f"{flag}: not a date or ISO 8601 time: {text[:40]!r}") from None
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise LookoutError(f"{flag}: {text[:40]!r} is not between {FIRST_YEAR} and {LAST_YEAR}")
    return value if value.tzinfo else value.replace(tzinfo=tz)
