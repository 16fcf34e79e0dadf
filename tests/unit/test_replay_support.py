"""tests/bench/replay_support.py replays recorded answers through the steps after generation
with the code as it is now, and `--outcomes` keeps each row's replayed answer, so two
versions of the answer checks are compared row by row (tests/bench/ANSWER_QUALITY.md,
"Answers that cannot be the answer"). Real recorded rows, the real reader."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import replay_support

ROWS = Path(__file__).resolve().parents[1] / "bench" / "decision_rows"


def test_outcomes_keep_each_replayed_answer(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    rows = json.loads((ROWS / "plain_rows.json").read_text(encoding="utf-8"))["rows"]
    squad = json.loads((ROWS / "cal_rows.json").read_text(encoding="utf-8"))["rows"]
    holiday = next(r for r in rows if r["question"].startswith("How many days of holiday"))
    refused_before = next(r for r in squad if r["grounding"] == "not_found"
                          and r.get("not_found_reason") in replay_support.REFUSED_BEFORE)
    near_miss = next(r for r in rows if r["kind"] != "answerable")
    picked = tmp_path / "rows.json"
    picked.write_text(json.dumps({"rows": [holiday, refused_before, near_miss]}),
                      encoding="utf-8")
    out = tmp_path / "outcomes.json"

    assert replay_support.main([str(picked), "--outcomes", str(out)]) == 0

    outcomes = json.loads(out.read_text(encoding="utf-8"))
    assert [o["id"] for o in outcomes] == [holiday["id"], refused_before["id"], near_miss["id"]]
    first, second, _ = outcomes
    # the holiday answer is replayed as recorded: the reader's quoted span, holding "25 days"
    assert first["refused"] is False and first["holds_gold"] is True
    assert "25 days" in first["answer"]
    # a question refused before the model wrote stays refused, and says so
    assert second["refused"] is True and second["reason"] == "before"
    answerable = sum(r["kind"] == "answerable" for r in (holiday, refused_before, near_miss))
    assert f"answerable: 1 of {answerable} hold a gold answer" in capsys.readouterr().out
