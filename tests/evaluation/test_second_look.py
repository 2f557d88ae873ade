"""The second look on pixels, the way a site gets it (docs/LEARNING.md, "The second
look"): ten stretches of vtest, each with a stall composited at its own place on the
road (real pixels) and the sign post on the lawn that the model takes for a standing
person, replayed into one output folder; then every case judged with `lookout cases
verdict` as its truth says (post: false alarm, stall: confirmed); `lookout verdicts
learn`; then two stretches not used for fitting, with stalls at places no training
stretch had: the post is held, the stalls are proposed, and the held case reaches no
sink until `lookout cases release`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lookout.base.yamlfile import load_model
from lookout.cases import delivery, status_queue
from lookout.cases.second_look import SecondLookFit
from lookout.cases.sinks import SqliteOutbox
from lookout.cases.verdicts import CaseReview
from lookout.cli.main import main
from lookout.evaluation.score import Scenario, match_cases, run_scenario
from lookout.evaluation.second_look import Judged, leave_one_out

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios" / "second-look").glob("*.yaml"))

pytestmark = pytest.mark.slow


def _judge(path: Path, out: Path) -> tuple[int, int]:
    """Record each case of the scenario's replay as its truth says; (false alarms,
    confirmed)."""
    sc = load_model(path, Scenario, "scenario")
    with CaseReview.open(out / "cases.db") as review:
        mine = [r.case for r in review.cases() if r.case.first_seen.date() == sc.start.date()]
    fa = ok = 0
    for case, hit, _ in match_cases(mine, sc.truth, sc.start, sc.tolerance_s):
        verdict = "false_alarm" if hit is None else "confirmed"
        assert main(["cases", "verdict", case.id, "--verdict", verdict, "--by", "op",
                     "--db", str(out / "cases.db")]) == 0  # fmt: skip
        fa, ok = fa + (hit is None), ok + (hit is not None)
    return fa, ok


def test_verdicts_teach_the_second_look_to_hold_the_post(
    assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(SCENARIOS) == 12
    train, held_out = SCENARIOS[:10], SCENARIOS[10:]
    out = tmp_path / "site"
    judged = [0, 0]
    for path in train:  # one site: one outbox, day after day
        run_scenario(path, out_dir=out)
    # Judged afterwards: a false alarm keeps its place quiet from the verdict on
    # (docs/CASE_STATUS.md), so the post's later stretches would make no case to judge.
    for path in train:
        fa, ok = _judge(path, out)
        judged = [judged[0] + fa, judged[1] + ok]
    assert judged == [10, 10]  # the post and the stall, every stretch

    capsys.readouterr()
    assert main(["verdicts", "learn", "--out-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    line = next(ln for ln in printed.splitlines() if ln.startswith("street_vendor"))
    assert line.split()[1:3] == ["10", "10"] and line.endswith("fitted"), printed
    fit = SecondLookFit.model_validate_json((out / "second_look.json").read_text())
    assert fit.model == "yolox_nano" and fit.types["street_vendor"].recall == 1.0

    for path in held_out:  # new stretches, a new site folder with the fit beside it
        fresh = tmp_path / path.stem
        fresh.mkdir()
        shutil.copy(out / "second_look.json", fresh / "second_look.json")
        run_scenario(path, out_dir=fresh)
        outbox = SqliteOutbox.open(fresh / "cases.db")
        review = CaseReview(outbox)
        rows = {r.case.zone_id: r for r in review.cases()}
        assert set(rows) == {"lawn", "road"}, rows
        post, stall = rows["lawn"], rows["road"]
        assert post.status == "held" and post.score is not None and post.score >= 0.8
        assert stall.status == "draft" and stall.score is not None and stall.score < 0.8

        conn = outbox.conn
        conn.executescript(delivery.SCHEMA)
        status_queue.enqueue(conn, ["redis"], (0, 0), status_queue.top_rowids(conn))
        conn.commit()
        due = [i.case_id for i in status_queue.due(conn, "case", "redis", 1e12, 10)]
        assert due == [stall.case.id]
        conn.commit()
        assert main(["cases", "release", post.case.id, "--db", str(fresh / "cases.db")]) == 0
        due = [i.case_id for i in status_queue.due(conn, "case", "redis", 1e12, 10)]
        assert sorted(due) == sorted([stall.case.id, post.case.id])
        outbox.close()


def test_leave_one_scenario_out_on_synthetic_folds() -> None:
    """The fold arithmetic on vectors whose class is plain (the pixel figures come from
    `lookout eval --second-look`, docs/LEARNING.md)."""
    import numpy as np

    rng = np.random.default_rng(3)
    judged = []
    for s in range(4):
        for fa in (True, False):
            v = rng.normal(0, 0.2, 6).astype(np.float32)
            v[:3] += 2.0 if fa else -2.0
            judged.append(Judged(f"s{s}", f"c{s}{fa}", "street_vendor", "z", fa, v))
    folds = leave_one_out(judged, 0.8)
    assert [(f.held, f.false_alarms, f.proposed, f.real) for f in folds] == [(1, 1, 1, 1)] * 4
