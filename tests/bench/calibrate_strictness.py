"""Fit the answerability decision and the strictness thresholds on the TRAINING articles.

Asks questions from the training side of the SQuAD article split (never the held-out
articles that `assistant eval qa --split held-out` reports on, and never a question the
adapter was trained on) the way the app does, with the balanced retrieval floors but no
refusal acted on, and records each answer with its evidence: the model's refusal
probability, the passages' similarities and the answer's token log-probabilities. As
generation suppresses the refusal opening whenever the model leans to it, the answer at any
threshold is: refused when the decision's score reaches it, else the answer recorded here.

1. `answerability.WEIGHTS`: a logistic regression (L2) of "unanswerable" on
   `answerability.features`, fitted on every row; its 5-fold cross-validated scores give an
   honest curve.
2. Thresholds on that score, from the cross-validated curve:
   - balanced: the largest correct-refusal minus false-refusal rate (Youden's J) between
     strict's and lenient's thresholds;
   - lenient: the lowest threshold whose false-refusal rate is at most 5%;
   - strict: the highest threshold whose correct-refusal rate is at least 80%.

With `--refusals missing` the fit and the thresholds use only the answerable rows and those
asked with the answer taken out of the library (`--missing`), the refusals the decision can
see: SQuAD's own unanswerable questions are written to look answerable from their paragraph,
and on held-out articles none of the decision's inputs (the reader's included) tells them
from answerable ones (AUC 0.45-0.52 each), so fitting on them only moves the decision to
refuse more often, at random. The shipped decision with the reader (`answerability.WEIGHTS`)
is fitted that way, on SQuAD's calibration articles together with the generated plain
documents of tests/data/qa/plain_calibration.jsonl (`--absent`: their unanswerable questions
have no answer anywhere in the library); README, "Answer quality". With the reader, the fit
has two of its inputs: its best probability over the passages and its probability for the
sentence the answer came from read alone (`answer_sentence`), as recorded or, for rows recorded
before 7 December, read again from the recorded passages and the model's draft (`draft`).

Usage:
    .venv/bin/python tests/bench/calibrate_strictness.py ../shared/data/squad2-dev-half.json \
        --exclude grounded.jsonl --limit 160 [--lora ADAPTER.gguf] [--out rows.json]
    .venv/bin/python tests/bench/calibrate_strictness.py --rows rows.json   # refit only
    .venv/bin/python tests/bench/calibrate_strictness.py tests/data/qa/plain_calibration.jsonl \
        --split all --limit 1000 --out plain.json
    .venv/bin/python tests/bench/calibrate_strictness.py tests/data/qa/plain_calibration.jsonl \
        --split all --limit 1 --missing-only --missing 200 --out plain_missing.json
        # taken out: other questions than the sample's, so a sample of 1 leaves them all
    .venv/bin/python tests/bench/calibrate_strictness.py --rows cal.json --absent plain.json \
        --rows plain_missing.json --with-reader --refusals missing --split calibration
        # the shipped decision's fit (recorded rows: tests/bench/decision_rows/)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from assistant.answer import answerability
from assistant.search import Hit

THRESHOLDS = [round(0.05 * i, 2) for i in range(1, 20)]
EARLY = answerability.EARLY_REFUSAL


def row_hits(row: dict[str, Any]) -> list[Hit]:
    """The passages a recorded row's model was given, as hits ("passage n" their source):
    what the decision, the replay and another adapter's judgement read again."""
    return [Hit(i, 0, f"passage {i + 1}", None, 0, len(h.get("text", "")), h.get("text", ""),
                0.0, h["similarity"], h.get("keyword_rank"), h.get("vector_rank"))
            for i, h in enumerate(row.get("consulted") or [])]


def evidence(row: dict[str, Any]) -> answerability.Evidence | None:
    """The decision's evidence for a recorded row (None: refused before the model)."""
    p = row["refusal_probability"]
    if p is None:
        return None
    hits = row_hits(row)
    return answerability.Evidence(p, answerability.retrieval_confidence(hits),
                                  answerability.answer_logprob(row.get("token_logprobs", [])),
                                  answerability.question_coverage(row.get("question", ""), hits))


WITH_READER = False  # --with-reader: the reader's best probability as one more feature
WITHOUT_COVERAGE = False  # --without-coverage: the decision as it was before coverage
# --without-refusal-probability: its weight held at 0. Over SQuAD and plain documents together
# it separates nothing (AUC 0.49; 0.39 on the plain ones alone), and a fit left free gives it
# a negative weight beside the answer's log-probability (the model's confidence twice). Held
# at 0 it lost on held-out SQuAD (README, "Answer quality"), so the shipped fit leaves it free.
WITHOUT_REFUSAL_PROBABILITY = False
# --target correct: fit "refuse" to every answer that would not be right (unanswerable, or an
# answer without a gold answer in it), not only to the unanswerable questions
TARGET = "answerable"


def should_refuse(row: dict[str, Any]) -> bool:
    """What the fit learns to call a refusal: an unanswerable question; with TARGET "correct",
    also an answerable one whose recorded answer holds no gold answer (refusing it costs
    nothing that was right)."""
    if not row["answerable"]:
        return True
    return TARGET == "correct" and not row.get("contains")


def row_features(row: dict[str, Any], e: answerability.Evidence) -> list[float]:
    """The decision's features for a row; with WITH_READER, the reader's logit appended;
    with WITHOUT_COVERAGE, the question's coverage left out (to measure what it adds)."""
    if WITH_READER:
        e = dataclasses.replace(e, reader_probability=row.get("reader_probability") or 0.0,
                                sentence_probability=sentence_probability(row))
    out = answerability.features(e)
    if WITHOUT_REFUSAL_PROBABILITY:
        out[1] = 0.0  # a constant 0: its weight stays 0 under the L2 penalty
    if WITHOUT_COVERAGE:
        del out[4]
    return out


def draft(row: dict[str, Any]) -> str:
    """The text the model wrote, which the decision read before the checks on it: what a
    row recorded as its answer, with the sentences the support check dropped (`unsupported`),
    or those alone where a quote or a refusal replaced them."""
    answer, dropped = row.get("answer_raw") or row.get("answer") or "", row.get("unsupported")
    if not dropped:
        return answer
    if row.get("grounding") == "quoted" or row.get("refused"):
        return " ".join(dropped)
    return " ".join([answer, *dropped])


_READERS: dict[str, Any] = {}


def sentence_probability(row: dict[str, Any], folder: Path | None = None) -> float | None:
    """The reader's probability for the sentence the row's answer came from (`answer_sentence`):
    as recorded, or read again from the recorded passages (the shipped reader, or FOLDER's)."""
    if "sentence_probability" in row and folder is None:
        recorded: float | None = row["sentence_probability"]
        return recorded
    from assistant.answer.answer_sentence import sentence_probability as read
    from assistant.answer.reader import Reader

    key = str(folder or "")
    if key not in _READERS:
        _READERS[key] = Reader(folder) if folder is not None else Reader()
    p = read(_READERS[key], row.get("question", ""), draft(row),
             row_hits(row)) if row.get("consulted") else None
    row["sentence_probability"] = p
    return p


def _score(x: Sequence[float], w: Sequence[float]) -> float:
    z = sum(a * b for a, b in zip(w, x, strict=True))
    return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))


def fit(rows: Sequence[dict[str, Any]], l2: float = 1.0) -> list[float]:
    """Logistic regression weights (Newton's method; the intercept is not penalised)."""
    xs = [row_features(r, e) for r in rows if (e := evidence(r)) is not None]
    ys = [1.0 if should_refuse(r) else 0.0 for r in rows if evidence(r) is not None]
    n = len(xs[0])
    w = [0.0] * n
    for _ in range(50):
        grad = [0.0] * n
        hess = [[0.0] * n for _ in range(n)]
        for x, y in zip(xs, ys, strict=True):
            z = sum(a * b for a, b in zip(w, x, strict=True))
            p = 1 / (1 + math.exp(-max(min(z, 40), -40)))
            for i in range(n):
                grad[i] += (p - y) * x[i]
                for j in range(n):
                    hess[i][j] += p * (1 - p) * x[i] * x[j]
        for i in range(1, n):
            grad[i] += l2 * w[i]
            hess[i][i] += l2
        step = _solve(hess, grad)
        w = [a - b for a, b in zip(w, step, strict=True)]
        if max(abs(v) for v in step) < 1e-8:
            break
    return [round(v, 4) for v in w]


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (a few unknowns)."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for c in range(n):
        pivot = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[pivot] = m[pivot], m[c]
        for r in range(n):
            if r != c and m[c][c]:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c], strict=True)]
    return [m[i][n] / m[i][i] if m[i][i] else 0.0 for i in range(n)]


def scores(rows: Sequence[dict[str, Any]], weights: Sequence[float] | None = None,
           folds: int = 5, seed: int = 0) -> list[float]:
    """Each row's refusal score: from `weights`, or cross-validated (fitted without its fold).

    A row refused before the model (by retrieval, or with a refusal probability of at least
    EARLY_REFUSAL) scores 1: no threshold lets it through.
    """
    out = [1.0] * len(rows)
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    for k in range(1 if weights is not None else folds):
        test = set(order[k::folds]) if weights is None else set(order)
        w = weights if weights is not None else fit([r for i, r in enumerate(rows)
                                                     if i not in test])
        for i in test:
            e = evidence(rows[i])
            if e is not None and e.refusal_probability < EARLY:
                out[i] = _score(row_features(rows[i], e), w)
    return out


def curve(rows: Sequence[dict[str, Any]], score: Sequence[float]) -> list[dict[str, float]]:
    """Rates at each threshold on the score, from rows asked with no refusal acted on."""
    ans = [(r, s) for r, s in zip(rows, score, strict=True) if r["answerable"]]
    una = [(r, s) for r, s in zip(rows, score, strict=True) if not r["answerable"]]
    # apart: SQuAD's own unanswerable questions, and those whose answer was taken out
    missing = [x for x in una if x[0].get("kind") == "missing"]
    squad = [x for x in una if x[0].get("kind") != "missing"]
    out = []
    for t in THRESHOLDS:
        def refused(pair: tuple[dict[str, Any], float], t: float = t) -> bool:
            return bool(pair[0]["refused"] or pair[1] >= t)

        out.append({
            "threshold": t,
            "correct_refusals": sum(refused(x) for x in una) / max(1, len(una)),
            "correct_refusals_unanswerable": sum(refused(x) for x in squad) / max(1, len(squad)),
            "correct_refusals_missing": sum(refused(x) for x in missing) / max(1, len(missing)),
            "false_refusals": sum(refused(x) for x in ans) / max(1, len(ans)),
            "contains_gold": sum(1 for x in ans if not refused(x) and x[0]["contains"])
            / max(1, len(ans)),
        })
    return out


def choose(points: list[dict[str, float]]) -> dict[str, float]:
    """The three levels' thresholds; balanced refuses less than strict (above its threshold),
    or the levels would be out of order (a fit whose J peaks below strict's threshold)."""
    lenient = next((p for p in reversed(points) if p["false_refusals"] > 0.05), None)
    lenient_t = min(0.95, lenient["threshold"] + 0.05) if lenient else points[0]["threshold"]
    strict = next((p for p in reversed(points) if p["correct_refusals"] >= 0.8), points[0])
    above = [p for p in points if strict["threshold"] < p["threshold"] < lenient_t] or points
    balanced = max(above, key=lambda p: (p["correct_refusals"] - p["false_refusals"],
                                         -abs(p["threshold"] - 0.5)))
    return {"lenient": lenient_t, "balanced": balanced["threshold"],
            "strict": strict["threshold"]}


def auc(rows: Sequence[dict[str, Any]], value: Callable[[dict[str, Any]], float]) -> float:
    """Probability that an unanswerable row gets a higher value than an answerable one."""
    pos = [value(r) for r in rows if not r["answerable"] and evidence(r) is not None]
    neg = [value(r) for r in rows if r["answerable"] and evidence(r) is not None]
    pairs = [(a > b) + 0.5 * (a == b) for a in pos for b in neg]
    return sum(pairs) / max(1, len(pairs))


def show(title: str, points: list[dict[str, float]]) -> None:
    print(title)
    print("threshold  correct refusals (SQuAD's / answer taken out)  false refusals  "
          "contains gold")
    for p in points:
        print(f"  {p['threshold']:.2f}      {100 * p['correct_refusals']:5.1f}%"
              f" ({100 * p.get('correct_refusals_unanswerable', 0):5.1f}% /"
              f" {100 * p.get('correct_refusals_missing', 0):5.1f}%)"
              f"           {100 * p['false_refusals']:5.1f}%        "
              f"{100 * p['contains_gold']:5.1f}%")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?")
    parser.add_argument("--exclude", help="training JSONL whose questions are left out")
    parser.add_argument("--limit", type=int, default=160)
    parser.add_argument("--seed", type=int, default=1, help="seed of the question sample")
    parser.add_argument("--lora", help="adapter (default: as the app chooses)")
    parser.add_argument("--out", help="write the rows and the curve here (JSON)")
    parser.add_argument("--rows", action="append",
                        help="skip asking: read rows written by an earlier --out (repeat to "
                        "fit on several runs' rows together)")
    parser.add_argument("--missing-only", action="store_true", dest="missing_only",
                        help="ask only the --missing questions (to add to rows asked before "
                        "with the same --limit, --seed and --balanced)")
    parser.add_argument("--split", choices=("train", "calibration", "held-out", "all"),
                        default="train",
                        help="calibration: only the reader's validation articles, which "
                        "neither the reader nor the adapter trained on; held-out: ask the "
                        "held-out articles' questions and compare the shipped decision with "
                        "the refusal probability alone (no fitting); all: every question, "
                        "no split (for a check set such as tests/data/qa/own_documents.jsonl, "
                        "judged like held-out)")
    parser.add_argument("--weights", help="with held-out or all: judge these decision weights "
                        "(comma-separated, as printed by a fit) instead of the shipped ones")
    parser.add_argument("--balanced", action="store_true",
                        help="half answerable, half unanswerable (as `eval qa --balanced`)")
    parser.add_argument("--missing", type=int, default=0, metavar="N",
                        help="also ask N other answerable questions with every passage "
                        "holding their answer taken out (as `eval qa --missing`): rows the "
                        "decision should refuse, like the unanswerable ones")
    parser.add_argument("--skip-unanswerable", action="store_true", dest="skip_unanswerable",
                        help="ask only the sample's answerable questions (a fit with "
                        "--refusals missing leaves SQuAD's unanswerable ones out anyway)")
    parser.add_argument("--with-reader", action="store_true", dest="with_reader",
                        help="fit with the reader's best probability as one more feature")
    parser.add_argument("--refusals", choices=("all", "missing"), default="all",
                        help="which unanswerable rows the fit and the thresholds use: all, or "
                        "only those asked with the answer taken out of the library")
    parser.add_argument("--without-coverage", action="store_true", dest="without_coverage",
                        help="fit without the question's coverage by the first passage")
    parser.add_argument("--absent", action="append", default=[], metavar="ROWS",
                        help="like --rows, for a set whose unanswerable questions were "
                        "written with no answer anywhere in its documents (such as "
                        "tests/data/qa/plain_calibration.jsonl): they count as refusals the "
                        "decision can see, as the taken-out ones do, even with --refusals "
                        "missing")
    parser.add_argument("--without-refusal-probability", action="store_true",
                        dest="without_refusal_probability",
                        help="hold the model's refusal probability's weight at 0")
    parser.add_argument("--reader", metavar="DIR",
                        help="with --rows: read each row's passages again with this reader "
                        "(a folder with reader.onnx) and fit on its probabilities")
    parser.add_argument("--target", choices=("answerable", "correct"), default="answerable",
                        help="what the fit separates: answerable from unanswerable questions, "
                        "or right answers from everything else")
    parser.add_argument("--focus-words", type=int, help="words of each passage the model "
                        "reads (default: the app's; 0: whole passages)")
    args = parser.parse_args()
    global WITH_READER, WITHOUT_COVERAGE, TARGET, WITHOUT_REFUSAL_PROBABILITY
    WITH_READER = args.with_reader
    TARGET = args.target
    WITHOUT_COVERAGE = args.without_coverage
    WITHOUT_REFUSAL_PROBABILITY = args.without_refusal_probability
    if args.focus_words is not None:
        from assistant.answer import focus
        focus.FOCUS_WORDS = args.focus_words

    if args.rows or args.absent:
        rows = [row for path in args.rows or []
                for row in json.loads(Path(path).read_text(encoding="utf-8"))["rows"]]
        for path in args.absent:
            for row in json.loads(Path(path).read_text(encoding="utf-8"))["rows"]:
                if not row["answerable"]:  # not in the library at all: as if taken out
                    row["kind"] = "missing"
                rows.append(row)
    elif args.data:
        rows = ask(args)
    else:
        parser.error("give DATA or --rows")
    if args.reader:
        reread(rows, Path(args.reader))
    if args.refusals == "missing" and args.split not in ("held-out", "all"):
        rows = [r for r in rows if r["answerable"] or r.get("kind") == "missing"]
    judged = args.split in ("held-out", "all")  # a check, never fitted on
    where = {"held-out": "held-out", "all": "check"}.get(args.split, "training")
    print(f"{len(rows)} questions from the {where} articles "
          f"({sum(r['answerable'] for r in rows)} answerable)")
    names = ["refusal probability", "retrieval confidence", "answer log-probability",
             "question coverage"][:3 if WITHOUT_COVERAGE else 4]
    if any(r.get("reader_probability") is not None for r in rows):
        print(f"AUC of the reader's probability: "
              f"{auc(rows, lambda r: -(r.get('reader_probability') or 0.0)):.3f}")
    if WITH_READER:
        def sentence(r: dict[str, Any]) -> float:
            p = sentence_probability(r)
            return -(r.get("reader_probability") or 0.0) if p is None else -p
        print(f"AUC of the reader's probability for the answer's sentence: "
              f"{auc(rows, sentence):.3f}")

    for i, name in enumerate(names, 1):
        def value(r: dict[str, Any], i: int = i) -> float:
            e = evidence(r)
            return answerability.features(e)[i] if e is not None else 0.0
        print(f"AUC of {name}: {auc(rows, value):.3f}")
    if judged:
        shipped_weights = answerability.WEIGHTS if WITH_READER \
            else answerability.WEIGHTS_WITHOUT_READER
        weights = ([float(v) for v in args.weights.split(",")] if args.weights
                   else list(shipped_weights))
        which = "the given" if args.weights else "the shipped"
        if WITH_READER:
            names += ["reader probability", "its answer's sentence"]
        if len(weights) != len(names) + 1:
            parser.error(f"--weights needs {len(names) + 1} numbers (intercept, "
                         f"{', '.join(names)})")
        shipped = scores(rows, weights)
        print(f"AUC of {which} decision: {auc(rows, lambda r: shipped[rows.index(r)]):.3f}")
        show(f"{which} decision on {where} questions:", curve(rows, shipped))
        show(f"the refusal probability alone, on {where} questions:", curve(rows, [
            r["refusal_probability"] if r["refusal_probability"] is not None else 1.0
            for r in rows]))
        if args.out:
            Path(args.out).write_text(json.dumps({"rows": rows}, indent=1), encoding="utf-8")
        return 0
    if WITH_READER:
        names += ["reader probability", "its answer's sentence"]
    weights = fit(rows)
    crossed = scores(rows)
    print(f"weights (intercept, {', '.join(names)}): {weights}")
    print(f"AUC of the decision, cross-validated: "
          f"{auc(rows, lambda r: crossed[rows.index(r)]):.3f}")
    points = curve(rows, crossed)
    show("cross-validated decision:", points)
    only_p = curve(rows, [r["refusal_probability"] if r["refusal_probability"] is not None
                          else 1.0 for r in rows])
    show("the refusal probability alone:", only_p)
    chosen = choose(points)
    print("chosen:", ", ".join(f"{k} {v:.2f}" for k, v in chosen.items()))
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows, "curve": points, "weights": weights,
                                              "chosen": chosen}, indent=1), encoding="utf-8")
    return 0


def reread(rows: list[dict[str, Any]], folder: Path) -> None:
    """Each row's best reader probability, from another reader, over the passages the model
    was given (no generation: a new reader is judged on the same evidence)."""
    from assistant.answer.reader import Reader

    reader = Reader(folder)
    for row in rows:
        texts = [h["text"] for h in row.get("consulted", [])]
        if texts:
            row["reader_probability"] = max(r.judged  # the judge head's, where it has one
                                            for r in reader.read(row["question"], texts))
            sentence_probability(row, folder)


def ask(args: argparse.Namespace) -> list[dict[str, Any]]:
    from assistant.cli.models import make_generator
    from assistant.evaluation.qa import run_qa, sample, sample_missing, score
    from assistant.search import Embedder
    from assistant.settings import Settings
    from assistant.training.squad import load_qa, split_articles

    qa = load_qa(args.data)
    train_articles, held_out = split_articles(qa.articles, held_out=0.25, seed=0)
    if args.split == "calibration":
        from assistant.training.reader_data import reader_split

        train_articles = reader_split(qa.articles).validation
    if args.split != "all":
        qa = qa.only_articles(held_out if args.split == "held-out" else train_articles)
    seen: set[str] = set()
    if args.exclude:
        for line in Path(args.exclude).read_text(encoding="utf-8").splitlines():
            if line.strip():
                seen.add(" ".join(json.loads(line)["prompt"].split()))
    pool = [q for q in qa.questions if " ".join(q.question.split()) not in seen]
    questions = sample(pool, args.limit, seed=args.seed, balanced=args.balanced)
    missing = sample_missing(pool, args.missing, seed=args.seed, skip=questions)
    missing_ids = {q.id for q in missing}
    if args.missing_only:
        questions = []
    if args.skip_unanswerable:  # the same answerable sample, without SQuAD's unanswerable ones
        questions = [q for q in questions if q.answerable]
    balanced = answerability.STRICTNESS["balanced"]
    answerability.STRICTNESS["calibration"] = answerability.Strictness(
        "calibration", "never refuses on the model's judgement", balanced.floor,
        balanced.agreed_floor, refuse_at=1.01, refuse_at_without_reader=1.01)
    settings = Settings()
    values = dict(settings.values, strictness="calibration")
    generator = make_generator(argparse.Namespace(model=None, lora=args.lora, lora_scale=None),
                               settings)
    print(f"Asking {len(questions)} questions (adapter {generator.adapter_path})...",
          file=sys.stderr)

    def progress(done: int, total: int, text: str) -> None:
        print(f"  {done}/{total} {text}", file=sys.stderr, flush=True)

    rows: list[dict[str, Any]] = []

    def keep(question: Any, answer: Any) -> None:
        taken_out = question.id in missing_ids
        rows.append(dict(asdict(score(question, answer, missing=taken_out)), **{
            "consulted": [{"text": h.text, "similarity": h.similarity,
                           "keyword_rank": h.keyword_rank, "vector_rank": h.vector_rank}
                          for h in answer.consulted],
            "cited": [c.n for c in answer.citations],
            "first_token_seconds": answer.first_token_seconds,
            "prompt_tokens": answer.prompt_tokens,
            "token_logprobs": [round(v, 4) for v in answer.token_logprobs],
            "answer_raw": answer.text,
            # the generator's words where the answer is not them (quoted, or sentences dropped)
            "unsupported": list(answer.unsupported),
            # whether the answer agrees with the reader's span in a passage it cites
            "agreed": answer.span is not None and answer.grounding == "answered",
        }))
        if args.out and len(rows) % 10 == 0:  # a stopped run keeps what it asked
            Path(args.out).write_text(json.dumps({"rows": rows}), encoding="utf-8")

    run_qa(qa, questions, generator=generator, settings=values, embedder=Embedder(),
           progress=progress, on_answer=keep, missing=missing)
    return rows

if __name__ == "__main__":
    sys.exit(main())
