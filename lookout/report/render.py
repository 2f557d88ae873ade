"""The period report as files: `report.html` (one page, charts as inline SVG, no script,
no external asset, printable on A4 with a page per section), `report.csv` (every
figure, one per row: section, key, label, metric, value) and `cases.csv` (one row per
case), every text in the chosen language (lookout/report/words.py). Data — camera ids,
grid codes, codes, unit names, numbers — sit in `translate="no"` elements. See
lookout/report/build.py and docs/CASE_STATUS.md, "Report"."""

from __future__ import annotations

from html import escape
from pathlib import Path

from lookout.base.i18n import Language
from lookout.report.build import GroupCount, Report
from lookout.report.words import Words, num, pct, write_csv

#: Colours of the event types and judgements in the charts.
TYPE_COLOURS = {
    "illegal_parking": "#c0392b",
    "street_vendor": "#e67e22",
    "illegal_construction": "#2e6bd1",
    "occupation": "#8e44ad",
    "non_motor_parking": "#16a085",
}
JUDGEMENT_COLOURS = {"confirmed": "#2e8b57", "false_alarm": "#c0392b", "unjudged": "#a0a4ab"}


# -- HTML ----------------------------------------------------------------------------------
#: The page's style; the console serves it as /report.css (its CSP allows no inline
#: style). On paper: A4, a page per section, the console's link hidden.
_STYLE = """
body{font:14px/1.45 system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px auto;
max-width:960px;color:#1d2330}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.period{font-size:16px;margin:0 0 4px}.meta{color:#5b6270}
.tiles{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.tile{border:1px solid #d5d9e0;border-radius:6px;padding:8px 14px;min-width:130px}
.tile b{display:block;font-size:22px}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #e3e6eb;padding:4px 8px;text-align:left}
td:nth-child(n+2){font-variant-numeric:tabular-nums}svg{max-width:100%;height:auto}
svg text{font-size:11px;fill:#444}
svg .grid{stroke:#e3e6eb}.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
.none,.note{color:#5b6270}
@page{size:A4;margin:15mm 12mm}
@media print{
body{font-size:10.5pt;margin:0;max-width:none}
.noprint{display:none}
section+section{break-before:page}
h2{margin-top:0;break-after:avoid}
tr,.tile,svg{break-inside:avoid}
thead{display:table-header-group}
.legend i,svg rect{print-color-adjust:exact;-webkit-print-color-adjust:exact}
}
"""


class Text(str):
    """A table cell in the reader's language (any other cell is data: translate="no")."""


def _svg_open(width: int, height: int, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
    )


def day_chart(report: Report, w: Words, width: int = 900, height: int = 220) -> str:
    """Cases per day, stacked by type, as an SVG element."""
    left, bottom, top = 36, 24, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    days = report.per_day or []
    peak = max([sum(c.values()) for _d, c in days] + [1])
    bar = plot_w / max(1, len(days))
    parts = [_svg_open(width, height, w.t("report.chart.day"))]
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
                f"<title>{escape(w.date(day))} {escape(w.kind(kind))}: {n}</title></rect>"
            )
        if i % step == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 6}" text-anchor="middle">'
                f"{day:%m-%d}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def judgement_chart(groups: list[GroupCount], w: Words, width: int = 900) -> str:
    """One horizontal bar per case type, split into confirmed / false alarm / not judged."""
    row, left = 26, 190
    height = row * max(1, len(groups)) + 8
    peak = max([g.cases for g in groups] + [1])
    plot_w = width - left - 60
    parts = [_svg_open(width, height, w.t("report.chart.judgement"))]
    for i, g in enumerate(groups):
        y = 4 + i * row
        parts.append(
            f'<text x="{left - 6}" y="{y + 16}" text-anchor="end">{escape(w.kind(g.key))}</text>'
        )
        x = float(left)
        for name in ("confirmed", "false_alarm", "unjudged"):
            n = getattr(g, name)
            if not n:
                continue
            bar = plot_w * n / peak
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{bar:.1f}" height="{row - 8}"'
                f' fill="{JUDGEMENT_COLOURS[name]}"><title>{escape(_judgement(w, name))}: {n}'
                "</title></rect>"
            )
            x += bar
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 16}">{g.cases}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _judgement(w: Words, name: str) -> str:
    return w.t("report.col.unjudged") if name == "unjudged" else w.t(f"status.{name}")


def _cell(tag: str, value: str) -> str:
    data = "" if isinstance(value, Text) else ' translate="no"'
    return f"<{tag}{data}>{escape(value)}</{tag}>"


def _table(w: Words, head: list[str], rows: list[list[str]]) -> str:
    """A table; `head` is catalogue keys, each row's cells data unless `Text`."""
    if not rows:
        return f'<p class="none">{escape(w.t("report.empty"))}</p>'
    th = "".join(f"<th>{escape(w.t(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(_cell("td", c) for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


JUDGED_HEAD = [f"report.col.{k}" for k in ("cases", "confirmed", "false_alarm", "unjudged", "rate")]


def _group_rows(groups: list[GroupCount], first: list[list[str]]) -> list[list[str]]:
    """Each group's leading cells (`first`) and its counts by judgement."""
    out = []
    for lead, g in zip(first, groups, strict=True):
        judged = g.confirmed + g.false_alarm
        counts = [str(g.cases), str(g.confirmed), str(g.false_alarm), str(g.unjudged)]
        out.append([*lead, *counts, pct(g.confirmed / judged if judged else None)])
    return out


def _key(w: Words, key: str) -> str:
    return key or Text(w.t("report.group_none"))


def _legend(items: list[tuple[str, str]]) -> str:
    spans = (f'<span><i style="background:{c}"></i>{escape(k)}</span>' for k, c in items)
    return f'<p class="legend">{"".join(spans)}</p>'


def _day_rows(report: Report, w: Words) -> list[list[str]]:
    kinds = sorted({k for _d, counts in report.per_day for k in counts})
    rows = [
        [Text(w.date(day)), *(str(counts.get(k, 0)) for k in kinds), str(sum(counts.values()))]
        for day, counts in report.per_day
        if counts
    ]
    return rows


def _cameras(report: Report, w: Words) -> str:
    if report.cameras is None:
        return f'<p class="note">{escape(w.t("report.no_history"))}</p>'
    rows = []
    for c in report.cameras:
        if c.incidents is None:
            quality: str = "–"
        else:
            parts = [f"{w.issue(k)} {v}" for k, v in sorted(c.incidents.items())]
            quality = Text("、".join(parts) if w.lang == "zh-CN" else ", ".join(parts)) or "0"
        rows.append(
            [
                c.camera_id,
                pct(c.uptime),
                pct(c.coverage),
                str(c.reconnects),
                str(c.dropped),
                quality,
            ]
        )
    head = ["camera", "uptime", "coverage", "reconnects", "dropped", "quality"]
    return _table(w, [f"report.col.{h}" for h in head], rows)


def render_html(report: Report, lang: Language = "en") -> str:
    """The report page (UTF-8 HTML, self-contained), every text in `lang`."""
    w = Words(lang)
    overall = next((d for d in report.detect if d.type == "all"), None)
    quality = report.quality_incidents
    tiles = [
        ("cases", str(report.total)),
        ("confirmed", str(report.confirmed)),
        ("false_alarm", str(report.false_alarm)),
        ("rate", pct(report.confirmation_rate)),
        ("median", w.duration(overall.median_s if overall and overall.n else None)),
        ("uptime", pct(report.uptime)),
        ("quality", "–" if quality is None else str(quality)),
    ]
    tile_html = "".join(
        f'<div class="tile">{escape(w.t(f"report.total.{k}"))}<b translate="no">{escape(v)}</b>'
        "</div>"
        for k, v in tiles
    )
    kinds = [(w.kind(k), c) for k, c in TYPE_COLOURS.items()]
    judged = [(_judgement(w, k), c) for k, c in JUDGEMENT_COLOURS.items()]
    by_type = _group_rows(report.by_type, [[Text(w.kind(g.key)), g.label] for g in report.by_type])
    by_grid = _group_rows(
        report.by_grid, [[_key(w, g.key), g.label or "–"] for g in report.by_grid]
    )
    by_unit = _group_rows(report.by_unit, [[_key(w, g.key)] for g in report.by_unit])
    by_cam = _group_rows(report.by_camera, [[g.key] for g in report.by_camera])
    day_kinds = sorted({k for _d, counts in report.per_day for k in counts})
    detect = [
        [
            Text(w.t("report.all_types") if d.type == "all" else w.kind(d.type)),
            *(str(d.n), num(d.median_s), num(d.mean_s), num(d.p90_s), num(d.max_s)),
        ]
        for d in report.detect
    ]
    detect_head = [f"report.col.{k}" for k in ("type", "cases", "median", "mean", "p90", "max")]
    title, period = w.title(report), w.period(report)
    site = escape(report.site or "")
    h1 = escape(w.t("report.title_site", site="\0")).replace(
        "\0", f'<span translate="no">{site}</span>'
    )
    generated = w.datetime(report.generated_at.astimezone(report.tz))

    def section(key: str, body: str) -> str:
        return f"<section><h2>{escape(w.t(f'report.section.{key}'))}</h2>{body}</section>"

    day_head = ["report.col.day", *[f"type.{k}" for k in day_kinds], "report.col.total"]
    sections = [
        section(
            "day", _legend(kinds) + day_chart(report, w) + _table(w, day_head, _day_rows(report, w))
        ),
        section(
            "type",
            _legend(judged)
            + judgement_chart(report.by_type, w)
            + _table(w, ["report.col.type", "report.col.code", *JUDGED_HEAD], by_type),
        ),
        section("grid", _table(w, ["report.col.grid", "report.col.unit", *JUDGED_HEAD], by_grid)),
        section("unit", _table(w, ["report.col.unit", *JUDGED_HEAD], by_unit)),
        section("camera", _table(w, ["report.col.camera", *JUDGED_HEAD], by_cam)),
        section(
            "detect",
            f'<p class="note">{escape(w.t("report.note.detect"))}</p>'
            + _table(w, detect_head, detect),
        ),
        section("cameras", _cameras(report, w)),
    ]
    heading = h1 if report.site else escape(title)
    body = "\n".join(sections)
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)} {escape(period)}</title>
<style>{_STYLE}</style></head><body>
<section class="first"><h1>{heading}</h1>
<p class="period">{escape(period)}</p>
<p class="meta">{escape(w.t("report.generated", at=generated))}</p>
<div class="tiles">{tile_html}</div>
<p class="note">{escape(w.t("report.note.rate"))}</p></section>
{body}
</body></html>
"""


def write_report(report: Report, folder: Path, lang: Language = "en") -> list[Path]:
    """Write report.html, report.csv and cases.csv into `folder`; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "report.html"
    page.write_text(render_html(report, lang), encoding="utf-8")
    return [page, *write_csv(report, folder, lang)]
