"""`lookout dataset export` on an outbox with kept frames (real vtest frames, real
YOLOX-Nano detections): the Ultralytics layout, labels that map back to the stored
boxes, false alarms as hard negatives, a split by camera and day, provenance, filters
and one-line refusals."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import cv2
import pytest
import yaml

from lookout.cli.main import main
from lookout.dataset.export import split_of_groups, yolo_line
from tests.dataset.conftest import SPECS, Site, case_id

PERIOD = ["--from", "2026-11-02", "--to", "2026-11-03"]
KEPT_IN_PERIOD = ("a1-parking", "a1-vendor", "a2-vendor", "b1-parking", "b2-vendor", "b2-late")


def ids(keys: tuple[str, ...] | list[str]) -> list[str]:
    """Case ids in the export's order: by confirmation time."""
    return [case_id(s.key) for s in sorted(SPECS, key=lambda s: s.at) if s.key in keys]


def export(site: Site, dest: Path, *extra: str) -> int:
    return main(
        ["dataset", "export", *PERIOD, "--out-dir", str(site.out), "--out", str(dest), *extra]
    )


def provenance(dest: Path) -> list[dict[str, str]]:
    with (dest / "provenance.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def labels_of(dest: Path, row: dict[str, str]) -> list[list[str]]:
    path = dest / "labels" / row["split"] / f"{row['case_id']}.txt"
    return [line.split() for line in path.read_text(encoding="utf-8").splitlines()]


def test_export_writes_the_ultralytics_layout(
    site: Site, tmp_path: Path, class_names: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "ds"
    assert export(site, dest) == 0
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and out.startswith("6 image(s)"), out
    assert "1 hard negative(s)" in out and "1 case(s) without kept frames skipped" in out
    data = yaml.safe_load((dest / "data.yaml").read_text(encoding="utf-8"))
    assert data["path"] == "." and data["train"] == "images/train" and data["val"] == "images/val"
    # The scene model's static_object (last of the frames' names) is no class of the set.
    model_names = class_names[:-1]
    assert data["names"] == dict(enumerate(model_names))
    assert (dest / "classes.txt").read_text(encoding="utf-8").split("\n")[:-1] == model_names
    rows = provenance(dest)
    assert [r["case_id"] for r in rows] == ids(KEPT_IN_PERIOD)
    for row in rows:
        image = dest / row["image"]
        assert row["image"] == f"images/{row['split']}/{row['case_id']}.jpg"
        assert cv2.imread(str(image)) is not None
        assert (image.stat().st_mode & 0o777) == 0o640
        for fields in labels_of(dest, row):
            assert len(fields) == 5 and all(len(f.split(".")[1]) == 6 for f in fields[1:])
            assert 0 <= int(fields[0]) < len(model_names)
            assert all(0 <= float(v) <= 1 for v in fields[1:])
    verdicts = {r["case_id"]: r["verdict"] for r in rows}
    assert verdicts == {
        case_id("a1-parking"): "confirmed",
        case_id("a1-vendor"): "false_alarm",
        case_id("a2-vendor"): "none",
        case_id("b1-parking"): "closed",
        case_id("b2-vendor"): "confirmed",
        case_id("b2-late"): "none",
    }
    assert {r["case_id"] for r in rows if r["hard_negative"] == "true"} == {case_id("a1-vendor")}
    first = rows[0]  # a1-parking
    assert (first["type"], first["camera_id"], first["preset"]) == ("illegal_parking", "cam-a", "")
    assert first["captured_at"] == "2026-11-02T09:00:00+08:00"


def test_labels_map_back_to_the_stored_boxes(site: Site, tmp_path: Path) -> None:
    dest = tmp_path / "ds"
    assert export(site, dest) == 0
    row = next(r for r in provenance(dest) if r["case_id"] == case_id("a1-parking"))
    meta = site.frames["a1-parking"]
    w, h = int(meta["width"]), int(meta["height"])  # type: ignore[call-overload]
    dets = meta["detections"]
    assert isinstance(dets, list)
    lines = labels_of(dest, row)
    assert len(lines) == len(dets) >= 2
    for fields, det in zip(lines, dets, strict=True):
        cls, cx, cy, bw, bh = int(fields[0]), *(float(v) for v in fields[1:])
        back = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
        assert cls == det["class_id"]
        assert back == pytest.approx(det["box"], abs=1e-3)


def test_a_false_alarm_keeps_its_picture_without_its_subject(site: Site, tmp_path: Path) -> None:
    dest = tmp_path / "ds"
    assert export(site, dest) == 0
    row = next(r for r in provenance(dest) if r["case_id"] == case_id("a1-vendor"))
    meta = site.frames["a1-vendor"]
    dets = meta["detections"]
    assert isinstance(dets, list) and meta["subjects"] == [1]
    w, h = int(meta["width"]), int(meta["height"])  # type: ignore[call-overload]
    expected = [yolo_line(d["class_id"], d["box"], w, h) for d in dets if d["track_id"] != 1]
    lines = [" ".join(f) for f in labels_of(dest, row)]
    assert lines == expected and len(lines) == len(dets) - 1
    subject = yolo_line(dets[0]["class_id"], dets[0]["box"], w, h)
    assert subject not in lines
    assert (dest / row["image"]).is_file() and row["hard_negative"] == "true"


def test_a_camera_day_is_never_on_both_sides(site: Site, tmp_path: Path) -> None:
    dest = tmp_path / "ds"
    assert export(site, dest) == 0
    sides: dict[tuple[str, str], set[str]] = {}
    for row in provenance(dest):
        day = row["captured_at"][:10]
        sides.setdefault((row["camera_id"], day), set()).add(row["split"])
    assert len(sides) == 4
    assert all(len(s) == 1 for s in sides.values()), sides
    assert {"train", "val"} <= set().union(*sides.values())
    again = tmp_path / "again"
    assert export(site, again) == 0
    assert provenance(again) == provenance(dest)  # deterministic


def test_the_split_keeps_both_sides_and_follows_the_hash() -> None:
    d1, d2 = date(2026, 11, 2), date(2026, 11, 3)
    one = split_of_groups({("cam-a", d1): 5})
    assert list(one.values()) in (["train"], ["val"])
    groups = {(f"cam-{i}", d): 10 + i for i in range(30) for d in (d1, d2)}
    split = split_of_groups(groups)
    assert split == split_of_groups(dict(reversed(list(groups.items()))))
    assert 0.05 < list(split.values()).count("val") / len(split) < 0.4
    for n in range(2, 6):
        few = {(f"cam-{i}", d1): 10 - i for i in range(n)}
        got = split_of_groups(few)
        assert set(got.values()) == {"train", "val"}, got


def test_yolo_line_clips_to_the_frame() -> None:
    assert yolo_line(0, [-10, 0, 50, 100], 100, 200) == "0 0.250000 0.250000 0.500000 0.500000"
    assert yolo_line(2, [120, 10, 130, 20], 100, 100) is None  # wholly outside
    assert yolo_line(1, [10, 10, 10, 30], 100, 100) is None  # no width


@pytest.mark.parametrize(
    ("extra", "keys"),
    [
        (["--types", "street_vendor"], ["a1-vendor", "a2-vendor", "b2-vendor", "b2-late"]),
        (["--cameras", "cam-b"], ["b1-parking", "b2-vendor", "b2-late"]),
        (["--types", "illegal_parking", "--cameras", "cam-a,cam-b"], ["a1-parking", "b1-parking"]),
    ],
)
def test_filters(site: Site, tmp_path: Path, extra: list[str], keys: list[str]) -> None:
    dest = tmp_path / "ds"
    assert export(site, dest, *extra) == 0
    assert [r["case_id"] for r in provenance(dest)] == ids(keys)


def test_the_period_is_local_days(site: Site, tmp_path: Path) -> None:
    dest = tmp_path / "ds"
    code = main(
        [
            "dataset",
            "export",
            "--from",
            "2026-11-03",
            "--to",
            "2026-11-04",
            "--db",
            str(site.out / "cases.db"),
            "--out",
            str(dest),
        ]
    )
    assert code == 0
    got = [r["case_id"] for r in provenance(dest)]
    assert got == ids(["a2-vendor", "b2-vendor", "b2-late", "b3-after"])


def _refused(capsys: pytest.CaptureFixture[str], code: int, *words: str) -> None:
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("lookout: error:"), err
    for word in words:
        assert word in err, err


def test_refusals_are_one_line(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "ds"
    _refused(capsys, export(site, dest, "--types", "street_vendor,parade"), "'parade'")
    code = main(
        [
            "dataset",
            "export",
            "--from",
            "2026-11-05",
            "--to",
            "2026-11-02",
            "--out-dir",
            str(site.out),
            "--out",
            str(dest),
        ]
    )
    _refused(capsys, code, "--from 2026-11-05 is after --to 2026-11-02")
    code = main(
        ["dataset", "export", *PERIOD, "--out-dir", str(tmp_path / "nowhere"), "--out", str(dest)]
    )
    _refused(capsys, code, "outbox not found")
    code = main(
        [
            "dataset",
            "export",
            "--from",
            "2026-12-01",
            "--to",
            "2026-12-02",
            "--out-dir",
            str(site.out),
            "--out",
            str(dest),
        ]
    )
    _refused(capsys, code, "no case with kept frames")
    (dest / "old").mkdir(parents=True)
    _refused(capsys, export(site, dest), "not an empty folder")
    assert not (dest / "data.yaml").exists()


def test_frames_of_two_models_are_refused(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = site.out / "evidence" / f"{case_id('b1-parking')}_frame.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["class_names"] = [*meta["class_names"][:-1], "tarp", "static_object"]
    path.write_text(json.dumps(meta), encoding="utf-8")
    dest = tmp_path / "ds"
    _refused(capsys, export(site, dest), f"case {case_id('b1-parking')}: class names")


def test_static_objects_are_not_labels(
    site: Site, tmp_path: Path, class_names: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A box of the scene model (docs/DETECTION.md, "What stays") shows goods, a cart or
    a tarp, not a class of the model: staff label what it is; the export leaves it out."""
    dest = tmp_path / "before"
    assert export(site, dest) == 0
    row = next(r for r in provenance(dest) if r["case_id"] == case_id("a1-parking"))
    before = labels_of(dest, row)
    path = site.out / "evidence" / f"{case_id('a1-parking')}_frame.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["detections"].append(
        {"class_id": len(class_names) - 1, "class_name": "static_object",
         "box": [10.0, 300.0, 90.0, 360.0], "confidence": 1.0, "track_id": 999}
    )  # fmt: skip
    path.write_text(json.dumps(meta), encoding="utf-8")
    dest = tmp_path / "after"
    assert export(site, dest) == 0
    assert labels_of(dest, row) == before and before
