"""`assistant eval retrieval` end to end on a tiny BEIR folder (real model, real store)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ASSISTANT_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "assistant", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def test_eval_retrieval_reports(app_home, data_dir, tmp_path):
    out = tmp_path / "reports"
    proc = run_cli("eval", "retrieval", str(data_dir / "beir-tiny"), "--out", str(out), "--json",
                   home=app_home)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["documents"] == 12 and result["queries"] == 5
    assert set(result["modes"]) == {"hybrid", "keyword", "vector"}
    for mode in result["modes"].values():
        assert set(mode) >= {"ndcg@10", "recall@10", "mrr@10"}
        assert 0.0 <= mode["ndcg@10"] <= 1.0
    # The questions are easy: every half finds the right document first.
    assert result["metrics"]["mrr@10"] == 1.0
    assert result["metrics"]["recall@10"] == 1.0
    md = Path(result["reports"]["markdown"])
    js = Path(result["reports"]["json"])
    assert md.read_text(encoding="utf-8").startswith("# Retrieval evaluation: beir-tiny")
    saved = json.loads(js.read_text(encoding="utf-8"))
    assert saved["metrics"] == result["metrics"] and "q1" in saved["runs"]["hybrid"]


def test_eval_retrieval_bad_folder_is_a_sentence(app_home, tmp_path):
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\n', encoding="utf-8")
    proc = run_cli("eval", "retrieval", str(tmp_path), home=app_home)
    assert proc.returncode == 1
    assert "lacks queries.jsonl, qrels/test.tsv" in proc.stderr
    assert "Traceback" not in proc.stderr
