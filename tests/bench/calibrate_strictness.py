"""Calibrate the strictness levels' refusal thresholds on the TRAINING articles.

Asks questions from the training side of the SQuAD article split (never the held-out
articles that `assistant eval qa --split held-out` reports on, and never a question the
adapter was trained on) the way the app does, with the balanced retrieval floors but the
model's refusal never acted on, and records each answer and its refusal probability. As
generation suppresses the refusal opening whenever the judgement lets the model answer, the
answer at any threshold t is: refused when p >= t, else the answer recorded here. So one
pass gives the whole trade-off curve:

- balanced: the threshold with the largest correct-refusal minus false-refusal rate
  (Youden's J: with as many answerable as unanswerable questions, the fewest errors);
- lenient: the lowest threshold whose false-refusal rate is at most 5%;
- strict: the highest threshold whose correct-refusal rate is at least 80% (the refusal
  target of issue 8).

Usage:
    .venv/bin/python tests/bench/calibrate_strictness.py ../shared/data/squad2-dev-half.json \
        --exclude grounded.jsonl --limit 80 [--lora ADAPTER.gguf] [--out rows.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

THRESHOLDS = [round(0.05 * i, 2) for i in range(1, 20)]


def curve(rows: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Rates at each threshold, from rows asked with the model's refusal not acted on."""
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    out = []
    for t in THRESHOLDS:
        def refused(r: dict[str, Any], t: float = t) -> bool:
            p = r["refusal_probability"]
            return bool(r["refused"] or (p is not None and p >= t))

        out.append({
            "threshold": t,
            "correct_refusals": sum(refused(r) for r in una) / max(1, len(una)),
            "false_refusals": sum(refused(r) for r in ans) / max(1, len(ans)),
            "contains_gold": sum(1 for r in ans if not refused(r) and r["contains"])
            / max(1, len(ans)),
        })
    return out


def choose(points: list[dict[str, float]]) -> dict[str, float]:
    balanced = max(points, key=lambda p: (p["correct_refusals"] - p["false_refusals"],
                                          -abs(p["threshold"] - 0.5)))
    lenient = next((p for p in points if p["false_refusals"] <= 0.05), points[-1])
    strict = next((p for p in reversed(points) if p["correct_refusals"] >= 0.8), points[0])
    return {"lenient": lenient["threshold"], "balanced": balanced["threshold"],
            "strict": strict["threshold"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data")
    parser.add_argument("--exclude", help="training JSONL whose questions are left out")
    parser.add_argument("--limit", type=int, default=80)
    parser.add_argument("--seed", type=int, default=1, help="seed of the question sample")
    parser.add_argument("--lora", help="adapter (default: as the app chooses)")
    parser.add_argument("--out", help="write the rows and the curve here (JSON)")
    parser.add_argument("--rows", help="skip asking: read rows written by an earlier --out")
    args = parser.parse_args()

    if args.rows:
        rows = json.loads(Path(args.rows).read_text(encoding="utf-8"))["rows"]
    else:
        rows = ask(args)
    points = curve(rows)
    print(f"{len(rows)} questions from the training articles "
          f"({sum(r['answerable'] for r in rows)} answerable)")
    print("threshold  correct refusals  false refusals  contains gold")
    for p in points:
        print(f"  {p['threshold']:.2f}      {100 * p['correct_refusals']:5.1f}%"
              f"           {100 * p['false_refusals']:5.1f}%        "
              f"{100 * p['contains_gold']:5.1f}%")
    chosen = choose(points)
    print("chosen:", ", ".join(f"{k} {v:.2f}" for k, v in chosen.items()))
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows, "curve": points,
                                              "chosen": chosen}, indent=1), encoding="utf-8")
    return 0


def ask(args: argparse.Namespace) -> list[dict[str, Any]]:
    from assistant.answer import answerability
    from assistant.cli.models import make_generator
    from assistant.evaluation.qa import run_qa, sample
    from assistant.search import Embedder
    from assistant.settings import Settings
    from assistant.training.squad import load_qa, split_articles

    qa = load_qa(args.data)
    train_articles, _held_out = split_articles(qa.articles, held_out=0.25, seed=0)
    qa = qa.only_articles(train_articles)
    seen: set[str] = set()
    if args.exclude:
        for line in Path(args.exclude).read_text(encoding="utf-8").splitlines():
            if line.strip():
                seen.add(" ".join(json.loads(line)["prompt"].split()))
    pool = [q for q in qa.questions if " ".join(q.question.split()) not in seen]
    questions = sample(pool, args.limit, seed=args.seed)
    balanced = answerability.STRICTNESS["balanced"]
    answerability.STRICTNESS["calibration"] = answerability.Strictness(
        "calibration", "never refuses on the model's judgement", balanced.floor,
        balanced.agreed_floor, refuse_at=1.01)
    settings = Settings()
    values = dict(settings.values, strictness="calibration")
    generator = make_generator(argparse.Namespace(model=None, lora=args.lora, lora_scale=None),
                               settings)
    print(f"Asking {len(questions)} questions (adapter {generator.adapter_path})...",
          file=sys.stderr)

    def progress(done: int, total: int, text: str) -> None:
        print(f"  {done}/{total} {text}", file=sys.stderr, flush=True)

    report = run_qa(qa, questions, generator=generator, settings=values, embedder=Embedder(),
                    progress=progress)
    return [asdict(r) for r in report.rows]


if __name__ == "__main__":
    sys.exit(main())
