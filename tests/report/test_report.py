"""`lookout report`: every figure checked against counts taken from the outbox (and the
console's history store) directly, with SQL of its own."""

from __future__ import annotations

import csv
import sqlite3
import statistics
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lookout.cases.model import DraftCase, Location
from lookout.cases.sinks import SqliteOutbox
from lookout.cases.verdicts import CaseReview
from lookout.cli.main import main
from lookout.report.health_store import HealthHistory, Sample
from tests.support.config import MakeConfig

TZ = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 1, tzinfo=TZ)
END = datetime(2026, 12, 1, tzinfo=TZ)  # --to 2026-11-30 is through its end
TYPES = ("illegal_parking", "street_vendor", "illegal_construction")
GRIDS = {"44030510100101": "园岭街道城市管理中队", "44030510100102": "华富街道城市管理中队"}


def case(i: int, confirmed: datetime, kind: str, grid: str | None, dwell: float) -> DraftCase:
    return DraftCase(
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"report-{i}")),
        type=kind,  # type: ignore[arg-type]
        code={"illegal_parking": "09001", "street_vendor": "09006"}.get(kind, "10001"),
        code_name="x",
        camera_id=f"cam{i % 3}",
        preset=None,
        zone_id="z",
        grid_code=grid,
        grid_unit=GRIDS.get(grid or ""),
        first_seen=confirmed - timedelta(seconds=dwell),
        confirmed_at=confirmed,
        last_seen=confirmed,
        dwell_s=dwell,
        bbox=[0.0, 0.0, 10.0, 10.0],
        location=Location(lon=114.05, lat=22.54) if grid else None,
        confidence=0.8,
        track_id=i,
        object_class="car",
    )


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    return make_site(tmp_path)


def make_site(tmp_path: Path) -> Path:
    """An output folder: 40 cases over two months, verdicts of every kind, a history."""
    out = tmp_path / "out"
    outbox = SqliteOutbox.open(out / "cases.db")
    cases = []
    for i in range(40):
        at = datetime(2026, 10, 20, 9, tzinfo=TZ) + timedelta(hours=37 * i)
        grid = [*GRIDS, None][i % 3]
        cases.append(case(i, at, TYPES[i % 3], grid, 20.0 + 7 * (i % 5)))
    # One in UTC, just before the period starts in Shanghai: outside it.
    cases.append(
        case(99, datetime(2026, 10, 31, 15, 59, tzinfo=ZoneInfo("UTC")), TYPES[0], None, 5)
    )
    for c in cases:
        outbox.write(c)
    review = CaseReview(outbox)
    for i, c in enumerate(cases[:40]):
        if i % 4 == 0:
            review.verdict(c.id, "confirmed", "op-li")
        if i % 4 == 1:
            review.verdict(c.id, "false_alarm", "op-li")
        if i % 8 == 0:
            review.verdict(c.id, "closed", "op-zhao")  # confirmed, then closed
        if i % 4 == 2 and i % 3 == 0:
            review.verdict(c.id, "closed", "op-zhao")  # closed without a judgement
        if i % 10 == 1:
            review.verdict(c.id, "confirmed", "op-wang")  # a false alarm, then confirmed
    review.close()
    hist = HealthHistory.open(out / "console.db")
    t0 = START.timestamp()
    for k in range(100):  # camera cam0 every 10 min for ~16 h, down 1 sample in 4
        state = "backoff" if k % 4 == 3 else "streaming"
        hist.record([Sample("cam0", state, 600.0, int(k % 4 == 3), 0, 10)], t0 + 3600 + 600 * k)
    hist.record([Sample("cam0", "backoff", 600.0, 5, 0, 0)], t0 - 7200)  # before the period
    # Video quality incidents as the console's status board writes them as they start.
    hist.record_incidents(
        [
            (t0 + 7200, "cam0", "default", "blur"),
            (t0 + 9000, "cam0", "default", "blur"),
            (t0 + 9600, "cam0", "2", "drift"),
            (t0 - 7200, "cam0", "default", "frozen"),  # before the period
        ]
    )
    hist.close()
    return out


def sql(db: Path, query: str, *args: object) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query, args).fetchall()


IN_PERIOD = (
    " julianday(c.confirmed_at) >= julianday('2026-11-01T00:00:00+08:00')"
    " AND julianday(c.confirmed_at) < julianday('2026-12-01T00:00:00+08:00')"
)
JUDGED = (
    "(SELECT v.status FROM verdicts v WHERE v.case_id = c.id"
    " AND v.status IN ('confirmed', 'false_alarm') ORDER BY v.version DESC LIMIT 1)"
)


def figures(path: Path) -> dict[tuple[str, str, str], str]:
    with path.open(encoding="utf-8") as fh:
        return {(r["section"], r["key"], r["metric"]): r["value"] for r in csv.DictReader(fh)}


def test_report_figures_match_the_outbox(site: Path, tmp_path: Path) -> None:
    rd = tmp_path / "report"
    argv = ["report", "--from", "2026-11-01", "--to", "2026-11-30", "--out", str(site)]
    assert main([*argv, "--report-dir", str(rd)]) == 0
    got = figures(rd / "report.csv")
    db = site / "cases.db"

    (total,) = sql(db, f"SELECT COUNT(*) FROM cases c WHERE {IN_PERIOD}")[0]
    assert 15 < total < 40 and got[("summary", "", "cases")] == str(total)
    for key, n in sql(db, f"SELECT type, COUNT(*) FROM cases c WHERE {IN_PERIOD} GROUP BY type"):
        assert got[("type", key, "cases")] == str(n)
    by_grid = sql(
        db,
        "SELECT COALESCE(json_extract(body, '$.grid_code'), ''), COUNT(*) FROM cases c"
        f" WHERE {IN_PERIOD} GROUP BY 1",
    )
    assert len(by_grid) == 3
    for key, n in by_grid:
        assert got[("grid", key, "cases")] == str(n)
    by_unit = sql(
        db,
        "SELECT COALESCE(json_extract(body, '$.grid_unit'), ''), COUNT(*) FROM cases c"
        f" WHERE {IN_PERIOD} GROUP BY 1",
    )
    for key, n in by_unit:
        assert got[("unit", key, "cases")] == str(n)
    for key, n in sql(db, f"SELECT status, COUNT(*) FROM cases c WHERE {IN_PERIOD} GROUP BY 1"):
        assert got[("status", key, "cases")] == str(n)

    judged = dict(sql(db, f"SELECT {JUDGED}, COUNT(*) FROM cases c WHERE {IN_PERIOD} GROUP BY 1"))
    confirmed, false_alarm = judged["confirmed"], judged["false_alarm"]
    assert confirmed and false_alarm
    assert got[("summary", "", "confirmed")] == str(confirmed)
    assert got[("summary", "", "false_alarm")] == str(false_alarm)
    rate = confirmed / (confirmed + false_alarm)
    assert float(got[("summary", "", "confirmation_rate")]) == pytest.approx(rate, abs=1e-4)
    for kind, n in sql(
        db,
        f"SELECT type, COUNT(*) FROM cases c WHERE {IN_PERIOD} AND {JUDGED} = 'confirmed'"
        " GROUP BY type",
    ):
        assert got[("type", kind, "confirmed")] == str(n)

    seconds: dict[str, list[float]] = defaultdict(list)
    for kind, s in sql(
        db,
        "SELECT type, (julianday(confirmed_at) - julianday(json_extract(body, '$.first_seen')))"
        f" * 86400 FROM cases c WHERE {IN_PERIOD}",
    ):
        seconds[kind].append(s)
        seconds["all"].append(s)
    for kind, values in seconds.items():
        assert got[("time_to_detect", kind, "cases")] == str(len(values))
        assert float(got[("time_to_detect", kind, "median_s")]) == pytest.approx(
            statistics.median(values), abs=0.06
        )
        assert float(got[("time_to_detect", kind, "max_s")]) == pytest.approx(max(values), 0.01)

    # Camera uptime from the history: 75 of the 100 samples in the period streaming.
    assert float(got[("camera_uptime", "cam0", "uptime")]) == pytest.approx(0.75)
    assert got[("camera_uptime", "cam0", "reconnects")] == "25"
    assert float(got[("camera_uptime", "cam0", "coverage")]) == pytest.approx(
        60000 / (30 * 86400), abs=1e-4
    )

    per_case = list(csv.DictReader((rd / "cases.csv").open(encoding="utf-8")))
    assert len(per_case) == total
    page = (rd / "report.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 2 and "<script" not in page
    assert "src=" not in page and "href=" not in page and "@import" not in page
    assert "园岭街道城市管理中队" in page and "Video quality incidents" in page
    assert "blurred 2, view moved 1" in page and "frozen" not in page


def test_report_by_config_and_bad_input(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], make_config: MakeConfig
) -> None:
    cfg = make_config([{"id": "cam0"}], name="site.yaml", daemon={"out_dir": str(site)})
    assert main(["report", "--from", "2026-11-01", "--to", "2026-11-07", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and (site / "reports" / "20261101-20261108" / "report.html").is_file()
    period = ["--from", "2026-11-01", "--to", "2026-11-07"]
    for argv, message in (
        (["--from", "2026-13-01", "--to", "2026-11-07", "--config", str(cfg)], "--from: not"),
        (["--from", "2026-11-08", "--to", "2026-11-01", "--config", str(cfg)], "period is empty"),
        ([*period, "--out", str(tmp_path / "none")], "outbox not found"),
        ([*period, "--out", str(site), "--timezone", "Mars/Base"], "--timezone"),
        ([*period, "--config", str(tmp_path / "missing.yaml")], "missing.yaml"),
    ):
        assert main(["report", *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


CHROMIUM = Path("/usr/bin/chromium")


def test_the_report_page_renders_in_chromium(site: Path, tmp_path: Path) -> None:
    """The page as a browser draws it: both charts, in the type and judgement colours,
    offline (a copy for the README goes to out/report-screenshots/, git-ignored)."""
    import subprocess

    import cv2
    import numpy as np

    from lookout.base.paths import REPO_ROOT

    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: run scripts/setup.sh --with-test-deps")
    rd = tmp_path / "report"
    argv = ["report", "--from", "2026-11-01", "--to", "2026-11-30", "--out", str(site)]
    assert main([*argv, "--report-dir", str(rd)]) == 0
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1000,1900",
            f"--screenshot={shot}",
            (rd / "report.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (1900, 1000)

    def pixels(hex_colour: str) -> int:
        r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        return int(np.all(np.abs(image.astype(int) - (b, g, r)) <= 2, axis=2).sum())

    for colour in ("#c0392b", "#e67e22", "#2e6bd1", "#2e8b57", "#a0a4ab"):
        assert pixels(colour) > 500, colour  # bars of both charts were drawn
    keep = REPO_ROOT / "out" / "report-screenshots"
    keep.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(keep / "report.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
