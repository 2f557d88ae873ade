"""How the period report writes things in a person's language (docs/CASE_STATUS.md,
"Report"): dates and times in the site's time zone, the period as its first and last
day, durations, shares, and the CSV files with their headers from the catalogue
(`lookout/base/locale/<lang>/report.po`). The CSV values stay machine-readable (keys,
ISO 8601 times, plain numbers); only the headers are translated.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from lookout.base.i18n import Language, Translator
from lookout.report.build import Report


class Words:
    """The report's texts and formats in one language (a `Translator` with dates)."""

    def __init__(self, lang: Language) -> None:
        self.lang = lang
        self.t = Translator(lang)

    def date(self, day: date) -> str:
        """`2026年11月26日` / `26 November 2026`."""
        month = self.t(f"report.month.{day.month}")
        return self.t("report.date", y=day.year, month=month, d=day.day)

    def datetime(self, at: datetime) -> str:
        """A time in the report's zone (`at` already converted), to the minute."""
        return self.t("report.datetime", date=self.date(at.date()), time=f"{at:%H:%M}")

    def period(self, report: Report) -> str:
        """The period as its first and last day (or, when it does not run from a day's
        start to a day's start, its first and last instant)."""
        if report.whole_days:
            first, last = report.first_day, report.last_day
            if first == last:
                return self.t("report.period_day", day=self.date(first))
            return self.t("report.period", first=self.date(first), last=self.date(last))
        return self.t(
            "report.period",
            first=self.datetime(report.start.astimezone(report.tz)),
            last=self.datetime(report.end.astimezone(report.tz)),
        )

    def title(self, report: Report) -> str:
        if report.site:
            return self.t("report.title_site", site=report.site)
        return self.t("report.title")

    def duration(self, seconds: float | None) -> str:
        """`42 秒`, `3 分 4 秒` / `42 s`, `3 min 4 s`; `–` for none."""
        if seconds is None:
            return "–"
        s = round(seconds)
        if s < 60:
            return self.t("unit.seconds", n=s)
        return self.t("unit.min_s", m=s // 60, s=s % 60)

    def kind(self, key: str) -> str:
        """A case type's name (`type.<key>`), the key when the catalogue lacks it."""
        text = self.t(f"type.{key}")
        return key if text == f"type.{key}" else text

    def issue(self, key: str) -> str:
        text = self.t(f"issue.{key}")
        return key if text == f"issue.{key}" else text


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


# -- CSV -----------------------------------------------------------------------------------
FIGURE_COLUMNS = ["section", "key", "label", "metric", "value"]
CASE_COLUMNS = [
    *("id", "type", "code", "camera_id", "zone_id", "grid_code", "grid_unit"),
    *("first_seen", "confirmed_at", "time_to_detect_s", "status", "judgement", "by"),
]


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def figure_rows(report: Report) -> Iterator[tuple[str, str, str, str, str]]:
    """(section, key, label, metric, value) for every figure of the report."""
    yield ("period", "", "", "first_day", report.first_day.isoformat())
    yield ("period", "", "", "last_day", report.last_day.isoformat())
    yield ("period", "", "", "from", report.start.isoformat())
    yield ("period", "", "", "to", report.end.isoformat())
    yield ("summary", "", "", "cases", str(report.total))
    yield ("summary", "", "", "confirmed", str(report.confirmed))
    yield ("summary", "", "", "false_alarm", str(report.false_alarm))
    yield ("summary", "", "", "confirmation_rate", _ratio(report.confirmation_rate))
    overall = next((d for d in report.detect if d.type == "all"), None)
    median = overall.median_s if overall else None
    yield ("summary", "", "", "median_time_to_detect_s", "" if median is None else str(median))
    yield ("summary", "", "", "camera_uptime", _ratio(report.uptime))
    quality = report.quality_incidents
    yield ("summary", "", "", "quality_incidents", "" if quality is None else str(quality))
    for status, n in sorted(report.by_status.items()):
        yield ("status", status, "", "cases", str(n))
    for section, groups in (
        ("type", report.by_type),
        ("grid", report.by_grid),
        ("unit", report.by_unit),
        ("camera", report.by_camera),
    ):
        for g in groups:
            for metric in ("cases", "confirmed", "false_alarm", "unjudged"):
                yield (section, g.key, g.label, metric, str(getattr(g, metric)))
    for day, counts in report.per_day:
        for kind, n in sorted(counts.items()):
            yield ("day", day.isoformat(), kind, "cases", str(n))
    for d in report.detect:
        yield ("time_to_detect", d.type, "", "cases", str(d.n))
        for metric in ("median_s", "mean_s", "p90_s", "max_s"):
            value = getattr(d, metric)
            yield ("time_to_detect", d.type, "", metric, "" if value is None else str(value))
    for c in report.cameras or []:
        yield ("camera_uptime", c.camera_id, "", "uptime", _ratio(c.uptime))
        yield ("camera_uptime", c.camera_id, "", "coverage", f"{c.coverage:.4f}")
        yield ("camera_uptime", c.camera_id, "", "observed_s", f"{c.observed_s:.0f}")
        yield ("camera_uptime", c.camera_id, "", "reconnects", str(c.reconnects))
        for issue, n in sorted((c.incidents or {}).items()):
            yield ("quality_incidents", c.camera_id, issue, "incidents", str(n))


#: What a spreadsheet reads as the start of a formula (CSV injection).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text: a string that starts like a formula gets
    a leading apostrophe (OWASP's advice); numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def write_csv(report: Report, folder: Path, lang: Language = "en") -> list[Path]:
    """report.csv (every figure) and cases.csv (every case), headers in `lang`; in
    zh-CN with a byte order mark, so that a spreadsheet opens them as UTF-8."""
    t = Translator(lang)
    encoding = "utf-8-sig" if lang == "zh-CN" else "utf-8"
    folder.mkdir(parents=True, exist_ok=True)
    figures = folder / "report.csv"
    with figures.open("w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow([t(f"report.csv.{c}") for c in FIGURE_COLUMNS])
        w.writerows([[cell(v) for v in row] for row in figure_rows(report)])
    cases = folder / "cases.csv"
    with cases.open("w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow([t(f"report.csv.{c}") for c in CASE_COLUMNS])
        for c in report.cases:
            detect = (c.confirmed_at - c.first_seen).total_seconds()
            row = [
                *(c.id, c.type, c.code, c.camera_id, c.zone_id, c.grid_code or ""),
                *(c.grid_unit or "", c.first_seen.isoformat(), c.confirmed_at.isoformat()),
                *(f"{detect:.1f}", c.status, c.judgement, c.verdict_by or ""),
            ]
            w.writerow([cell(v) for v in row])
    return [figures, cases]
