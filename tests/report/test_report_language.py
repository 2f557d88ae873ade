"""The period report as a centre files it (docs/CASE_STATUS.md, "Report"): every text
from the catalogue in zh-CN and en, the period as its first and last day, the video
quality incidents from the console's history store, no path of the machine, and no
visible text left the same in both languages unless it is marked as data."""

from __future__ import annotations

import csv
import re
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lookout.cases.sinks import SqliteOutbox
from lookout.cases.verdicts import CaseReview
from lookout.cli.main import main
from lookout.report.build import build_report
from lookout.report.figures import open_history
from lookout.report.health_store import HealthHistory
from lookout.report.render import render_html
from lookout.report.words import Words, figure_rows
from tests.report.test_report import case, make_site
from tests.support.config import MakeConfig

TZ = ZoneInfo("Asia/Shanghai")
PERIOD = ["--from", "2026-11-01", "--to", "2026-11-30"]


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    """tests/report/test_report.py's output folder: 40 cases, 3 quality incidents."""
    return make_site(tmp_path)


def write(site: Path, tmp_path: Path, lang: str) -> Path:
    rd = tmp_path / f"report-{lang}"
    assert (
        main(["report", *PERIOD, "--out", str(site), "--report-dir", str(rd), "--lang", lang]) == 0
    )
    return rd


def rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


TOTALS_ZH = (
    "发现案件数",
    "确认数",
    "误报数",
    "确认率",
    "中位发现时长",
    "摄像机在线率",
    "视频质量事件",
)


def test_the_zh_cn_report_reads_as_a_centre_files_it(site: Path, tmp_path: Path) -> None:
    rd = write(site, tmp_path, "zh-CN")
    page = (rd / "report.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page and "案件统计报告" in page
    for word in (*TOTALS_ZH, "单元网格", "责任单位", "摄像机", "案件类型", "编码", "日期"):
        assert word in page, word
    assert "2026年11月1日 至 2026年11月30日" in page and "12月1日 0" not in page
    assert "机动车乱停放" in page and "模糊 2、偏移 1" in page
    assert '<b translate="no">3</b>' in page  # the quality incidents of the period
    assert "@page{size:A4" in page and "section+section{break-before:page}" in page
    for f in ("report.html", "report.csv", "cases.csv"):  # no path of the machine
        text = (rd / f).read_text(encoding="utf-8")
        assert str(site) not in text and str(tmp_path) not in text and "/tmp" not in text
    assert rows(rd / "report.csv")[0] == ["分类", "键", "名称", "指标", "数值"]
    assert rows(rd / "cases.csv")[0][:3] == ["案件编号", "案件类型", "编码"]


def test_the_en_report_and_csv_headers(site: Path, tmp_path: Path) -> None:
    rd = write(site, tmp_path, "en")
    page = (rd / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page and "1 November 2026 to 30 November 2026" in page
    assert "to 1 December 2026" not in page and "T00:00:00" not in page
    assert rows(rd / "report.csv")[0] == ["section", "key", "label", "metric", "value"]
    assert rows(rd / "cases.csv")[0][:3] == ["id", "type", "code"]
    figures = {(r[0], r[3]): r[4] for r in rows(rd / "report.csv")[1:]}
    assert figures[("period", "first_day")] == "2026-11-01"
    assert figures[("period", "last_day")] == "2026-11-30"
    assert figures[("summary", "quality_incidents")] == "3"


def test_the_language_and_site_come_from_the_config(
    site: Path, tmp_path: Path, make_config: MakeConfig
) -> None:
    daemon = {"out_dir": str(site), "http": {"enabled": False, "console": {"language": "zh-CN"}}}
    cfg = make_config([{"id": "cam0"}], name="site.yaml", daemon=daemon, site={"name": "福田区"})
    rd = tmp_path / "by-config"
    assert main(["report", *PERIOD, "--config", str(cfg), "--report-dir", str(rd)]) == 0
    page = (rd / "report.html").read_text(encoding="utf-8")
    assert '<span translate="no">福田区</span>案件统计报告' in page
    assert rows(rd / "report.csv")[0][0] == "分类"
    assert main(["report", *PERIOD, "--config", str(cfg), "--lang", "fr"]) == 2


def test_quality_incidents_are_counted_from_the_history_store(tmp_path: Path) -> None:
    outbox = SqliteOutbox.open(tmp_path / "cases.db")
    outbox.write(case(1, datetime(2026, 11, 26, 10, tzinfo=TZ), "illegal_parking", None, 30))
    hist = HealthHistory.open(tmp_path / "console.db")
    at = datetime(2026, 11, 26, 9, tzinfo=TZ).timestamp()
    hist.record_incidents([(at, "cam1", "default", "occlusion")])
    hist.close()
    history = open_history(tmp_path / "console.db")
    assert history is not None
    start, end = datetime(2026, 11, 26, tzinfo=TZ), datetime(2026, 11, 27, tzinfo=TZ)
    with CaseReview(outbox) as review:
        report = build_report(review, start, end, history, tz=TZ)
    history.close()
    assert report.quality_incidents == 1 and report.first_day == report.last_day
    assert ("summary", "", "", "quality_incidents", "1") in list(figure_rows(report))
    page = render_html(report, "zh-CN")
    assert "2026年11月26日" in page and "遮挡 1" in page and " 至 " not in page


class _Visible(HTMLParser):
    """Visible text nodes, titles and aria-labels outside `translate="no"` elements."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        data = dict(attrs).get("translate") == "no" or bool(self.stack and self.stack[-1][1])
        if tag not in ("meta", "br", "line", "rect", "link"):
            self.stack.append((tag, data))
        if not data and dict(attrs).get("aria-label"):
            self.texts.append(str(dict(attrs)["aria-label"]))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        inside = self.stack[-1] if self.stack else ("", False)
        if data.strip() and not inside[1] and inside[0] != "style":
            self.texts.append(data.strip())


def visible(page: str) -> list[str]:
    parser = _Visible()
    parser.feed(page)
    return parser.texts


def test_no_visible_text_is_left_untranslated(site: Path, tmp_path: Path) -> None:
    zh = visible((write(site, tmp_path, "zh-CN") / "report.html").read_text(encoding="utf-8"))
    en = visible((write(site, tmp_path, "en") / "report.html").read_text(encoding="utf-8"))
    word = re.compile(r"[A-Za-z]{3,}")
    same = [text for text in set(zh) & set(en) if word.search(text)]
    assert same == [] and len(zh) > 40


def test_dates_and_durations_as_each_language_writes_them() -> None:
    zh, en = Words("zh-CN"), Words("en")
    assert (
        zh.date(date(2026, 1, 5)) == "2026年1月5日"
        and en.date(date(2026, 1, 5)) == "5 January 2026"
    )
    assert zh.duration(42) == "42 秒" and zh.duration(184) == "3 分 4 秒"
    assert en.duration(184) == "3 min 4 s" and en.duration(None) == "–"
