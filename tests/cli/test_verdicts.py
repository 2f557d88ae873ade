"""`lookout verdicts learn` (lookout/cli/verdicts.py): the fit of the outbox's verdicts as
a table or JSON, and one line with exit 2 when there is nothing to read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lookout.cli.main import main
from tests.cases.test_second_look import _judged_outbox
from tests.support.cases import build_case


def test_learn_prints_per_type_and_writes_the_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _judged_outbox(tmp_path, build_case, n_fa=10, n_ok=10).close()
    assert main(["verdicts", "learn", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("second look: 20 judged case(s), backbone yolox_nano at /x")
    assert out[2].split() == ["illegal_parking", "10", "10", "1.00", "1.00", "fitted"]
    assert out[-1] == f"written: {tmp_path / 'second_look.json'}"
    argv = ["verdicts", "learn", "--out-dir", str(tmp_path), "--min-verdicts", "11", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["types"]["illegal_parking"] == {
        "confirmed": 10,
        "false_alarms": 10,
        "fitted": False,
        "precision": None,
        "recall": None,
        "why": "needs 11 of each",
    }


def test_without_an_outbox_or_with_a_bad_threshold_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verdicts", "learn", "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "outbox not found" in err, err
    with pytest.raises(SystemExit) as stop:
        main(["verdicts", "learn", "--out-dir", str(tmp_path), "--threshold", "1.5"])
    assert stop.value.code == 2
    assert "a probability in (0, 1] is needed" in capsys.readouterr().err
