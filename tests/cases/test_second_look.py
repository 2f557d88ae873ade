"""The second look in the outbox (cases/second_look.py, cases/learn.py): a held case
is stored with its embedding and score, reaches no sink and no backlog until released;
a fit is made from verdicts and taken at the next case when its file changes."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from lookout.cases import delivery, status_queue
from lookout.cases.evidence import EvidenceWriter
from lookout.cases.learn import RefitWorker, learn
from lookout.cases.model import DraftCase
from lookout.cases.second_look import (
    Look,
    SecondLook,
    SecondLookFit,
    TypeFit,
    embedding_window,
)
from lookout.cases.settings import SecondLookConfig
from lookout.cases.sinks import JsonlSink, SqliteOutbox
from lookout.cases.spool import CaseStore
from lookout.cases.verdicts import CaseFilter, CaseReview, ReviewError
from lookout.detector.embedding import BackboneEmbedder, context_window
from lookout.detector.manifest import load_manifest
from lookout.streams.frame import Frame
from tests.support.pictures import KINDS, Counting, as_picture

ROOT = Path(__file__).resolve().parents[2]
DIM = 8


def look(hold: bool, vector: np.ndarray | None = None, score: float | None = 0.5) -> Look:
    v = vector if vector is not None else np.zeros(DIM, np.float32)
    return Look("m", "out", v, 0.93 if hold else score, hold)


@pytest.fixture()
def store(tmp_path: Path) -> tuple[CaseStore, SqliteOutbox, JsonlSink]:
    outbox = SqliteOutbox.open(tmp_path / "cases.db")
    outbox.conn.executescript(delivery.SCHEMA)  # the delivery worker's queue tables
    jsonl = JsonlSink.open(tmp_path / "cases.jsonl")
    evidence = EvidenceWriter(tmp_path, jpeg_quality=80, crop_margin=0.2)
    return CaseStore(evidence, [outbox, jsonl], Counter()), outbox, jsonl


def test_a_held_case_waits_in_the_outbox_for_an_operator(
    store: tuple[CaseStore, SqliteOutbox, JsonlSink],
    make_case: Callable[..., DraftCase],
) -> None:
    cases, outbox, jsonl = store
    held, plain = make_case(1), make_case(2)
    assert cases.write(held, [], look(True)) and cases.write(plain, [], look(False))
    jsonl.close()
    # The JSONL sink (a local sink like any other) got only the case not held.
    assert [ln for ln in (jsonl.path.read_text().splitlines())] == [plain.to_json()]
    review = CaseReview(outbox)
    rows = {r.case.id: r for r in review.cases()}
    assert rows[held.id].status == "held" and rows[held.id].score == pytest.approx(0.93)
    assert rows[plain.id].status == "draft" and rows[plain.id].score == pytest.approx(0.5)
    assert [r.case.id for r in review.cases(CaseFilter(status="held"))] == [held.id]
    assert [r.case.id for r in review.cases(CaseFilter(status="draft"))] == [plain.id]

    # Delivery: both get their rows, only the case not held is due or counted.
    conn = outbox.conn
    status_queue.enqueue(conn, ["redis"], (0, 0), status_queue.top_rowids(conn))
    conn.commit()
    due = [i.case_id for i in status_queue.due(conn, "case", "redis", 1e12, 10)]
    assert due == [plain.id]
    assert status_queue.counts(conn, "deliveries") == [("redis", "pending", 1)]

    # Released: delivered as a draft, counted, and a second release is refused.
    row = review.release(held.id[:8], "wang")
    assert row.status == "draft" and not row.held
    due = [i.case_id for i in status_queue.due(conn, "case", "redis", 1e12, 10)]
    assert due == [held.id, plain.id]  # in the order written
    with pytest.raises(ReviewError, match="is not held"):
        review.release(held.id, "wang")
    outbox.close()


def test_confirming_a_held_case_releases_it(
    store: tuple[CaseStore, SqliteOutbox, JsonlSink],
    make_case: Callable[..., DraftCase],
) -> None:
    cases, outbox, _ = store
    first, second = make_case(1), make_case(2)
    cases.write(first, [], look(True))
    cases.write(second, [], look(True))
    review = CaseReview(outbox)
    review.verdict(first.id, "confirmed", "li")
    review.verdict(second.id, "false_alarm", "li")  # agreeing with the hold: stays held
    rows = {r.case.id: r for r in review.cases()}
    assert rows[first.id].status == "confirmed" and not rows[first.id].held
    assert rows[second.id].status == "false_alarm" and rows[second.id].held
    conn = outbox.conn
    status_queue.enqueue(conn, ["webhook"], (0, 0), status_queue.top_rowids(conn))
    assert [i.case_id for i in status_queue.due(conn, "case", "webhook", 1e12, 10)] == [first.id]
    outbox.close()


def _judged_outbox(
    tmp_path: Path, make_case: Callable[..., DraftCase], n_fa: int, n_ok: int
) -> SqliteOutbox:
    """An outbox with n_fa false alarms near +2 and n_ok confirmed cases near -2 in
    the first four dimensions (the rest noise), and two drafts nobody judged."""
    rng = np.random.default_rng(7)
    outbox = SqliteOutbox.open(tmp_path / "cases.db")
    review = CaseReview(outbox)
    for i in range(n_fa + n_ok + 2):
        fa = i < n_fa
        v = rng.normal(0, 0.3, DIM).astype(np.float32)
        v[:4] += 2.0 if fa else -2.0
        case = make_case(i)
        outbox.write(case, look=Look("yolox_nano", "/x", v, None, False))
        if i < n_fa + n_ok:
            review.verdict(case.id, "false_alarm" if fa else "confirmed", "op")
    return outbox


def test_learn_fits_a_type_once_it_has_enough_of_each_kind(
    tmp_path: Path, make_case: Callable[..., DraftCase]
) -> None:
    outbox = _judged_outbox(tmp_path, make_case, n_fa=12, n_ok=11)
    path = tmp_path / "second_look.json"
    result = learn(outbox, SecondLookConfig(min_verdicts=10), path)
    assert result.samples == 23 and result.path == path  # the drafts are left out
    fit = SecondLookFit.model_validate_json(path.read_text())
    assert (fit.model, fit.output, fit.dim) == ("yolox_nano", "/x", DIM)
    t = fit.types["illegal_parking"]
    assert (t.false_alarms, t.confirmed) == (12, 11)
    assert t.precision == 1.0 and t.recall is not None and t.recall >= 0.9
    assert t.score(np.array([2.0] * 4 + [0.0] * (DIM - 4))) > 0.8
    assert t.score(np.array([-2.0] * 4 + [0.0] * (DIM - 4))) < 0.2

    # Twelve confirmed are needed now: the type is off, and the file says so.
    result = learn(outbox, SecondLookConfig(min_verdicts=12), path)
    (report,) = result.reports
    assert report.fit is None and report.why == "needs 12 of each"
    assert SecondLookFit.model_validate_json(path.read_text()).types == {}
    outbox.close()


def test_the_fit_is_taken_when_its_file_changes(tmp_path: Path, vtest_100: np.ndarray) -> None:
    manifest = load_manifest(ROOT / "models" / "yolox_nano.yaml")
    embedder = BackboneEmbedder.from_manifest(manifest)
    path = tmp_path / "second_look.json"
    sl = SecondLook(embedder, manifest.name, path, threshold=0.8)
    box = [30.6, 106.8, 48.2, 141.6]
    first = sl.look("street_vendor", vtest_100, box)
    assert first.score is None and not first.hold and first.embedding.shape == (256,)

    def write(intercept: float, model: str = manifest.name) -> None:
        typed = TypeFit(
            coef=[0.0] * 256,
            intercept=intercept,
            mean=[0.0] * 256,
            scale=[1.0] * 256,
            confirmed=10,
            false_alarms=10,
        )
        SecondLookFit(
            fitted_at=datetime.now(UTC),
            model=model,
            output=embedder.output,
            dim=256,
            types={"street_vendor": typed},
        ).write(path)
        st = path.stat()  # a new mtime even within the file system's clock step
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9 * (1 + int(intercept) % 7)))

    write(5.0)
    held = sl.look("street_vendor", vtest_100, box)
    assert held.hold and held.score is not None and held.score > 0.99
    assert sl.look("illegal_parking", vtest_100, box).score is None  # type not fitted
    write(-5.0)
    assert not sl.look("street_vendor", vtest_100, box).hold
    write(5.0, model="another_model")  # another backbone: off, not misapplied
    assert sl.look("street_vendor", vtest_100, box).score is None


def test_the_daemon_refits_on_a_schedule_and_stops_at_once(
    tmp_path: Path, make_case: Callable[..., DraftCase]
) -> None:
    _judged_outbox(tmp_path, make_case, n_fa=10, n_ok=10).close()
    path = tmp_path / "second_look.json"
    worker = RefitWorker(tmp_path / "cases.db", SecondLookConfig(refit_s=3600), path)
    result = worker.run_once()  # what the thread does every refit_s
    assert result is not None and [r.type for r in result.reports if r.fit] == ["illegal_parking"]
    assert path.is_file() and worker.runs == 1
    early = RefitWorker(tmp_path / "new" / "cases.db", SecondLookConfig(), path)
    assert early.run_once() is None and not (tmp_path / "new").exists()  # nothing yet
    (tmp_path / "bad.db").write_text("not a database")
    broken = RefitWorker(tmp_path / "bad.db", SecondLookConfig(), path)
    assert broken.run_once() is None and broken.failures == 1
    worker.start()
    t0 = time.monotonic()
    worker.stop()
    assert time.monotonic() - t0 < 2.0 and not worker._thread.is_alive()


def test_metrics_count_held_and_scored_cases_by_type() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from lookout.daemon.metrics import SecondLookCollector

    held, scored = Counter({"street_vendor": 2}), Counter({"street_vendor": 5, "occupation": 1})
    registry = CollectorRegistry()
    registry.register(SecondLookCollector(lambda: (held, scored)))
    text = generate_latest(registry).decode()
    assert 'lookout_second_look_held_total{type="street_vendor"} 2.0' in text
    assert 'lookout_second_look_scored_total{type="occupation"} 1.0' in text


def test_after_a_model_change_only_the_new_backbone_is_learnt(
    tmp_path: Path, make_case: Callable[..., DraftCase]
) -> None:
    outbox = _judged_outbox(tmp_path, make_case, n_fa=10, n_ok=10)  # yolox_nano, /x
    review = CaseReview(outbox)
    for i in range(100, 104):  # four cases of a new model, judged since
        case = make_case(i)
        outbox.write(case, look=Look("city_v2", "/b", np.ones(DIM, np.float32), None, False))
        review.verdict(case.id, "confirmed" if i % 2 else "false_alarm", "op")
    path = tmp_path / "second_look.json"
    most = learn(outbox, SecondLookConfig(min_verdicts=2), path)
    assert (most.model, most.samples) == ("yolox_nano", 20)  # the most cases
    pinned = learn(outbox, SecondLookConfig(min_verdicts=2), path, ("city_v2", "/b"))
    assert (pinned.model, pinned.output, pinned.samples) == ("city_v2", "/b", 4)
    assert SecondLookFit.model_validate_json(path.read_text()).model == "city_v2"
    outbox.close()


@pytest.mark.parametrize("kind", KINDS)
def test_the_second_look_converts_only_its_window(vtest_100: np.ndarray, kind: str) -> None:
    """The embedding of a box read from its window (an odd and an even window corner,
    the frame's edges, a box larger than a third of the frame) is the embedding read
    from the whole frame in BGR; only the window is converted."""
    manifest = load_manifest(ROOT / "models" / "yolox_nano.yaml")
    embedder = BackboneEmbedder.from_manifest(manifest)
    boxes = [
        (30.6, 106.8, 48.2, 141.6),  # the sign post
        (101.3, 200.1, 131.9, 277.7),
        (700.2, 500.5, 767.0, 575.0),  # at the bottom right corner
        (1.0, 2.0, 9.0, 9.0),  # tiny, at the top left corner
        (300.0, 150.0, 520.0, 360.0),  # a window taller than the frame: cut
    ]
    for box in boxes:
        picture = Counting(as_picture(vtest_100, kind))
        frame = Frame("cam", 0, 0.0, datetime(2026, 1, 1, tzinfo=UTC), 0.0, picture=picture)
        window, shifted = embedding_window(frame, box)
        got = embedder.embed(window, shifted)
        assert picture.whole == 0 and len(picture.parts) == 1
        want = embedder.embed(picture.picture.image(), box)
        np.testing.assert_array_equal(got, want)
        win = context_window(box, frame.width, frame.height)
        assert window.shape[0] - (win.y1 - win.y0) in (0, 1)  # from an even row
        assert window.shape[1] - (win.x1 - win.x0) in (0, 1)
