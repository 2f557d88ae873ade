"""`lookout replay --around N`: clean frames sampled from the file around each case
(lookout/dataset/around.py), kept beside the case's own under the same rules, carried
into `lookout dataset export` on the case's side of the split. A real replay of vtest
with the real model."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import pytest
import yaml

from lookout.cases.evidence import around_paths, dataset_paths
from lookout.cli.main import main
from lookout.dataset.around import offsets
from tests.support.config import demo_config
from tests.support.helpers import read_jsonl


def keep_config(folder: Path, keep: bool = True) -> Path:
    cfg = demo_config()
    cfg["dataset"] = {"keep": keep}
    path = folder / "demo-keep.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def replay(assets: Path, config: Path, out: Path, *extra: str) -> int:
    video = str(assets / "footage" / "vtest.avi")
    return main(
        ["replay", video, "--config", str(config), "--out", str(out), "--no-progress", *extra]
    )


def test_offsets_alternate_before_and_after_out_to_the_spread() -> None:
    assert offsets(4, 10.0) == [-5.0, 5.0, -10.0, 10.0]
    assert offsets(3, 6.0) == [-3.0, 3.0, -6.0]
    assert offsets(1, 4.0) == [-4.0]


def test_replay_keeps_frames_around_the_case_and_export_takes_them(
    assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = replay(assets, keep_config(tmp_path), out, "--around", "4", "--around-spread", "6")
    assert code == 0
    assert "kept around:     4 clean frame(s) around 1 case(s)" in capsys.readouterr().out
    (case,) = read_jsonl(out / "cases.jsonl")
    cid = case["id"]
    main_record = json.loads((out / dataset_paths(cid)[1]).read_text(encoding="utf-8"))
    records = []
    for k in range(1, 5):
        clean, meta = (out / p for p in around_paths(cid, k))
        assert stat.S_IMODE(clean.stat().st_mode) == 0o640
        assert stat.S_IMODE(meta.stat().st_mode) == 0o640
        records.append(json.loads(meta.read_text(encoding="utf-8")))
    assert not (out / around_paths(cid, 5)[0]).exists()
    # Never listed in the case JSON; the retention's list of a case's kept files has them.
    assert not any("around" in p for p in case["evidence"])
    assert {str(out / p) for k in range(1, 5) for p in around_paths(cid, k)} <= {
        str(out / p) for p in dataset_paths(cid)
    }
    assert [r["around"]["offset_s"] for r in records] == [-3.0, 3.0, -6.0, 6.0]
    for r in records:
        assert r["class_names"] == main_record["class_names"]
        assert r["camera_id"] == "vtest" and r["case_id"] == cid
        # The parked van stands still: found again where it was, with the case's track id.
        assert case["track_id"] in r["subjects"]
        van = [d for d in r["detections"] if d["track_id"] == case["track_id"]]
        assert van and van[0]["class_name"] in ("car", "truck")
    times = sorted(r["captured_at"] for r in records)
    assert times[0] < main_record["captured_at"] < times[-1]

    dest = tmp_path / "ds"
    period = ["--from", "2026-11-26", "--to", "2026-11-27"]
    assert main(["dataset", "export", *period, "--out-dir", str(out), "--out", str(dest)]) == 0
    assert capsys.readouterr().out.startswith("5 image(s)")
    with (dest / "provenance.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["case_id"] for r in rows} == {cid}
    assert len({r["split"] for r in rows}) == 1  # seconds apart: one side of the split
    split = rows[0]["split"]
    names = sorted(Path(r["image"]).stem for r in rows)
    assert names == sorted([cid, *(f"{cid}_a{k}" for k in range(1, 5))])
    for name in names:
        assert (dest / "images" / split / f"{name}.jpg").is_file()
        labels = (dest / "labels" / split / f"{name}.txt").read_text(encoding="utf-8")
        assert len(labels.splitlines()) >= 3


def test_around_needs_kept_frames_and_a_sane_count(
    assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert replay(assets, keep_config(tmp_path, keep=False), out, "--around", "2") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--around needs dataset: {keep: true}" in err
    assert replay(assets, keep_config(tmp_path), out, "--around", "9") == 2
    assert "--around 9: must be within 1..8" in capsys.readouterr().err
    assert not (out / "cases.jsonl").exists()
