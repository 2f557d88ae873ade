"""The benchmark runner works end to end (a tiny run; speed is not asserted here)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import pytest

from lookout.cli import main


@pytest.mark.slow
def test_bench_runner_writes_its_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench"
    argv = [
        "bench",
        "--no-sweep",
        "--scale",
        "2",
        "--seconds",
        "2",
        "--clip-seconds",
        "4",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    report = json.loads((out / "bench.json").read_text())
    for key in ("pipeline_images_per_s", "bare_ort_images_per_s", "ratio", "cameras_sustained"):
        assert key in report
    assert report["bare_ort_images_per_s"] > 0 and report["pipeline_images_per_s"] > 0
    assert report["ratio"] == pytest.approx(
        report["pipeline_images_per_s"] / report["bare_ort_images_per_s"], rel=0.01
    )
    (row,) = report["scale"]
    assert row["cameras"] == 2 and row["analysed_per_s"] > 0
    assert all(row[f"ms_{k}"] >= 0 for k in ("decode", "inference", "tracking"))
    rows = list(csv.DictReader((out / "bench.csv").open()))
    assert len(rows) == 1 and rows[0]["part"] == "scale"
    img = cv2.imread(str(out / "bench.png"))
    assert img is not None and img.shape[2] == 3
    assert "cameras_sustained:" in capsys.readouterr().out
