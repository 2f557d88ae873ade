"""`lookout dataset import`: the export reads back clean; a corrupted copy gives one
line per problem and exit 1; the layouts of CVAT "YOLO 1.1" and Label Studio "YOLO"
are read; a folder without names is unusable (exit 2)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from lookout.cli.main import main
from lookout.dataset.check import check_lines
from tests.dataset.conftest import Site

PERIOD = ["--from", "2026-11-02", "--to", "2026-11-03"]


@pytest.fixture()
def exported(site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    dest = tmp_path / "ds"
    code = main(["dataset", "export", *PERIOD, "--out-dir", str(site.out), "--out", str(dest)])
    assert code == 0
    capsys.readouterr()
    return dest


def rows(dest: Path) -> list[dict[str, str]]:
    with (dest / "provenance.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def check(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["dataset", "import", str(folder)])
    return code, capsys.readouterr().out.splitlines()


def test_the_export_reads_back_clean(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = check(exported, capsys)
    assert code == 0, lines
    assert len(lines) == 1 and "(ultralytics): 6 image(s)" in lines[0], lines
    assert lines[0].endswith("80 class(es); 0 problem(s)"), lines  # COCO's 80


def test_a_corrupted_copy_gives_one_line_per_problem(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = rows(exported)[:2]
    label = f"labels/{first['split']}/{first['case_id']}.txt"
    lines = (exported / label).read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 5
    lines[0] = "80 " + lines[0].split(" ", 1)[1]  # class out of range
    lines[1] = " ".join(lines[1].split()[:4])  # four numbers
    lines[2] = lines[2].split()[0] + " 1.200000 0.5 0.1 0.1"  # centre outside
    lines[3] = lines[3].split()[0] + " 0.5 0.5 0.000000 0.1"  # no width
    lines[4] = lines[4].split()[0] + " 0.97 0.5 0.1 0.1"  # reaches past the right edge
    (exported / label).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (exported / f"images/{second['split']}/{second['case_id']}.jpg").unlink()
    orphan = f"labels/{second['split']}/{second['case_id']}.txt"
    code, out = check(exported, capsys)
    assert code == 1
    assert out[:-1] == [
        f"{label}:1: class 80 is not in names (80 classes)",
        f"{label}:2: 4 numbers, expected 5 (class cx cy w h)",
        f"{label}:3: box outside [0, 1] (1.200000 0.5 0.1 0.1)",
        f"{label}:4: empty box (width 0.000000, height 0.1)",
        f"{label}:5: box reaches outside the image (0.97 0.5 0.1 0.1)",
        f"{orphan}: no image for this label file",
    ]
    assert "5 image(s), 0 background" in out[-1] and out[-1].endswith("; 6 problem(s)"), out


def test_an_image_without_labels_is_background(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = rows(exported)[0]
    (exported / f"labels/{row['split']}/{row['case_id']}.txt").unlink()
    code, out = check(exported, capsys)
    assert code == 0 and "6 image(s), 1 background" in out[-1], out


def test_a_cvat_yolo_1_1_layout(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cvat = tmp_path / "cvat"
    (cvat / "obj_train_data").mkdir(parents=True)
    names = (exported / "classes.txt").read_text(encoding="utf-8")
    (cvat / "obj.names").write_text(names, encoding="utf-8")
    (cvat / "obj.data").write_text(
        "classes = 80\nnames = obj.names\ntrain = train.txt\nbackup = backup/\n", encoding="utf-8"
    )
    listed = []
    for row in rows(exported):
        shutil.copy(exported / row["image"], cvat / "obj_train_data")
        shutil.copy(
            exported / f"labels/{row['split']}/{row['case_id']}.txt", cvat / "obj_train_data"
        )
        listed.append(f"obj_train_data/{row['case_id']}.jpg")
    (cvat / "train.txt").write_text("\n".join(listed) + "\n", encoding="utf-8")
    code, out = check(cvat, capsys)
    assert code == 0, out
    assert "(cvat-yolo-1.1): 6 image(s)" in out[-1]
    (cvat / "obj.data").write_text("classes = 79\nnames = obj.names\n", encoding="utf-8")
    code, out = check(cvat, capsys)
    assert (code, out[0]) == (1, "obj.data:1: classes = 79 but obj.names has 80"), out


def test_a_label_studio_yolo_layout(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ls = tmp_path / "label-studio"
    (ls / "images").mkdir(parents=True)
    (ls / "labels").mkdir()
    shutil.copy(exported / "classes.txt", ls)
    for row in rows(exported):
        shutil.copy(exported / row["image"], ls / "images")
        shutil.copy(exported / f"labels/{row['split']}/{row['case_id']}.txt", ls / "labels")
    (ls / "labels" / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n", encoding="utf-8")
    code, out = check(ls, capsys)
    assert code == 1
    assert out[0] == "labels/ghost.txt: no image for this label file"
    assert "(label-studio-yolo): 6 image(s)" in out[-1]


def test_unusable_folders_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataset", "import", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such folder" in err, err
    (tmp_path / "bare" / "images").mkdir(parents=True)
    assert main(["dataset", "import", str(tmp_path / "bare")]) == 2
    assert "no class names" in capsys.readouterr().err
    (tmp_path / "bare" / "data.yaml").write_text("train: images\n", encoding="utf-8")
    assert main(["dataset", "import", str(tmp_path / "bare")]) == 2
    assert "no class names (names:)" in capsys.readouterr().err


def test_check_lines_reads_what_ultralytics_writes() -> None:
    good = "0 0.5 0.5 0.2 0.2\n\n3 0.1 0.1 0.2 0.2\n"
    assert list(check_lines(good, 4)) == [(1, None), (3, None)]
    assert list(check_lines("1.5 0.5 0.5 0.1 0.1", 4)) == [(1, "class 1.5 is not an integer")]
    assert list(check_lines("a 0.5 0.5 0.1 0.1", 4)) == [(1, "not a number in 'a 0.5 0.5 0.1 0.1'")]
