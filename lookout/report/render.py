"""The period report as files: `report.html` (one page, charts as inline SVG, no script,
no external asset), `report.csv` (every figure, one per row: section, key, label,
metric, value) and `cases.csv` (one row per case). See lookout/report/build.py."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from html import escape
from pathlib import Path

from lookout.report.build import GroupCount, Report

#: Colours of the event types and judgements in the charts.
TYPE_COLOURS = {
    "illegal_parking": "#c0392b",
    "street_vendor": "#e67e22",
    "illegal_construction": "#2e6bd1",
    "occupation": "#8e44ad",
    "non_motor_parking": "#16a085",
}
JUDGEMENT_COLOURS = {"confirmed": "#2e8b57", "false_alarm": "#c0392b", "unjudged": "#a0a4ab"}


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}{unit}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


# -- CSV -----------------------------------------------------------------------------------
def figure_rows(report: Report) -> Iterator[tuple[str, str, str, str, str]]:
    """(section, key, label, metric, value) for every figure of the report."""
    yield ("period", "", "", "from", report.start.isoformat())
    yield ("period", "", "", "to", report.end.isoformat())
    yield ("summary", "", "", "cases", str(report.total))
    yield ("summary", "", "", "confirmed", str(report.confirmed))
    yield ("summary", "", "", "false_alarm", str(report.false_alarm))
    rate = report.confirmation_rate
    yield ("summary", "", "", "confirmation_rate", "" if rate is None else f"{rate:.4f}")
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
        yield ("camera_uptime", c.camera_id, "", "uptime", _num(c.uptime))
        yield ("camera_uptime", c.camera_id, "", "coverage", f"{c.coverage:.4f}")
        yield ("camera_uptime", c.camera_id, "", "observed_s", f"{c.observed_s:.0f}")
        yield ("camera_uptime", c.camera_id, "", "reconnects", str(c.reconnects))
        for issue, n in sorted((c.incidents or {}).items()):
            yield ("quality_incidents", c.camera_id, issue, "incidents", str(n))


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


CASE_COLUMNS = [
    *("id", "type", "code", "camera_id", "zone_id", "grid_code", "grid_unit"),
    *("first_seen", "confirmed_at", "time_to_detect_s", "status", "judgement", "by"),
]


def write_csv(report: Report, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    figures = folder / "report.csv"
    with figures.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["section", "key", "label", "metric", "value"])
        w.writerows(figure_rows(report))
    cases = folder / "cases.csv"
    with cases.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CASE_COLUMNS)
        for c in report.cases:
            detect = (c.confirmed_at - c.first_seen).total_seconds()
            w.writerow(
                [
                    *(c.id, c.type, c.code, c.camera_id, c.zone_id, c.grid_code or ""),
                    *(c.grid_unit or "", c.first_seen.isoformat(), c.confirmed_at.isoformat()),
                    *(f"{detect:.1f}", c.status, c.judgement, c.verdict_by or ""),
                ]
            )
    return [figures, cases]


# -- HTML ----------------------------------------------------------------------------------
def day_chart(report: Report, width: int = 900, height: int = 220) -> str:
    """Cases per day, stacked by type, as an SVG element."""
    left, bottom, top = 36, 24, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    days = report.per_day or []
    peak = max([sum(c.values()) for _d, c in days] + [1])
    bar = plot_w / max(1, len(days))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' role="img" aria-label="cases per day by type">'
    ]
    for tick in sorted({0, peak // 2, peak}):
        y = top + plot_h - plot_h * tick / peak
        parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    step = max(1, len(days) // 12)
    for i, (day, counts) in enumerate(days):
        x = left + i * bar
        y = top + plot_h
        for kind in TYPE_COLOURS:
            n = counts.get(kind, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            parts.append(
                f'<rect x="{x + 0.5:.1f}" y="{y:.1f}" width="{max(bar - 1, 0.5):.1f}"'
                f' height="{h:.1f}" fill="{TYPE_COLOURS[kind]}">'
                f"<title>{day.isoformat()} {escape(kind)}: {n}</title></rect>"
            )
        if i % step == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 6}" text-anchor="middle">'
                f"{day:%m-%d}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def judgement_chart(groups: list[GroupCount], width: int = 900) -> str:
    """One horizontal bar per group, split into confirmed / false alarm / unjudged."""
    row, left = 26, 190
    height = row * max(1, len(groups)) + 8
    peak = max([g.cases for g in groups] + [1])
    plot_w = width - left - 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' role="img" aria-label="cases by type and operator judgement">'
    ]
    for i, g in enumerate(groups):
        y = 4 + i * row
        parts.append(f'<text x="{left - 6}" y="{y + 16}" text-anchor="end">{escape(g.key)}</text>')
        x = float(left)
        for name in ("confirmed", "false_alarm", "unjudged"):
            n = getattr(g, name)
            if not n:
                continue
            w = plot_w * n / peak
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 8}"'
                f' fill="{JUDGEMENT_COLOURS[name]}"><title>{name}: {n}</title></rect>'
            )
            x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 16}">{g.cases}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return '<p class="none">None in this period.</p>'
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _group_rows(groups: list[GroupCount], label: bool) -> list[list[str]]:
    out = []
    for g in groups:
        judged = g.confirmed + g.false_alarm
        cells = [g.key or "(none)"] + ([g.label or "–"] if label else [])
        cells += [str(g.cases), str(g.confirmed), str(g.false_alarm), str(g.unjudged)]
        out.append([*cells, _pct(g.confirmed / judged if judged else None)])
    return out


_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:960px;color:#1d2330}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.meta{color:#5b6270}.tiles{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.tile{border:1px solid #d5d9e0;border-radius:6px;padding:8px 14px;min-width:130px}
.tile b{display:block;font-size:22px}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #e3e6eb;padding:4px 8px;text-align:left}
td:nth-child(n+2){font-variant-numeric:tabular-nums}svg text{font-size:11px;fill:#444}
svg .grid{stroke:#e3e6eb}.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
.none,.note{color:#5b6270}
"""


def render_html(report: Report) -> str:
    """The report page (UTF-8 HTML, self-contained)."""
    rate = report.confirmation_rate
    overall = next((d for d in report.detect if d.type == "all"), None)
    tiles = [
        ("cases", str(report.total)),
        ("confirmed", str(report.confirmed)),
        ("false alarms", str(report.false_alarm)),
        ("confirmation rate", _pct(rate)),
        ("median time to detect", _fmt(overall.median_s if overall else None, " s")),
    ]
    legend = "".join(
        f'<span><i style="background:{c}"></i>{escape(k)}</span>' for k, c in TYPE_COLOURS.items()
    )
    judged = "".join(
        f'<span><i style="background:{c}"></i>{escape(k)}</span>'
        for k, c in JUDGEMENT_COLOURS.items()
    )
    head = ["cases", "confirmed", "false alarms", "unjudged", "confirmation rate"]
    detect = [
        [d.type, str(d.n), _fmt(d.median_s), _fmt(d.mean_s), _fmt(d.p90_s), _fmt(d.max_s)]
        for d in report.detect
    ]
    if report.cameras is None:
        cams = '<p class="note">No camera history store (OUT/console.db) for this output.</p>'
    else:
        cams = _table(
            ["camera", "uptime", "coverage", "reconnects", "dropped frames", "quality incidents"],
            [
                [
                    c.camera_id,
                    _pct(c.uptime),
                    _pct(c.coverage),
                    str(c.reconnects),
                    str(c.dropped),
                    "not recorded"
                    if c.incidents is None
                    else (", ".join(f"{k} {v}" for k, v in sorted(c.incidents.items())) or "0"),
                ]
                for c in report.cameras
            ],
        )
    period = f"{report.start.isoformat()} – {report.end.isoformat()}"
    tile_html = "".join(f'<div class="tile">{escape(k)}<b>{escape(v)}</b></div>' for k, v in tiles)
    grid_head = ["grid cell", "responsible unit", *head]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lookout report {escape(period)}</title>
<style>{_STYLE}</style></head><body>
<h1>Case report</h1>
<p class="meta">Cases confirmed from {escape(period)} (end exclusive) · generated
{escape(report.generated_at.isoformat(timespec="seconds"))} from {escape(report.source)}</p>
<div class="tiles">{tile_html}</div>
<h2>Cases per day</h2><p class="legend">{legend}</p>{day_chart(report)}
<h2>By type and operator judgement</h2><p class="legend">{judged}</p>
{judgement_chart(report.by_type)}
{_table(["type", "code", *head], _group_rows(report.by_type, True))}
<h2>By grid cell</h2>{_table(grid_head, _group_rows(report.by_grid, True))}
<h2>By responsible unit</h2>{_table(["unit", *head], _group_rows(report.by_unit, False))}
<h2>By camera</h2>{_table(["camera", *head], _group_rows(report.by_camera, False))}
<h2>Time to detect (s)</h2>
<p class="note">From the object's first sighting (first_seen) to the case (confirmed_at).</p>
{_table(["type", "cases", "median", "mean", "p90", "max"], detect)}
<h2>Cameras</h2>{cams}
<p class="note">Confirmation rate = confirmed / (confirmed + false alarms), each case
judged by its latest confirmed or false_alarm verdict; a case only closed, or still a
draft, is unjudged (docs/CASE_STATUS.md).</p>
</body></html>
"""


def write_report(report: Report, folder: Path) -> list[Path]:
    """Write report.html, report.csv and cases.csv into `folder`; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    return [page, *write_csv(report, folder)]
