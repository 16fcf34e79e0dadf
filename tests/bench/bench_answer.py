"""Answer path overhead: our `answer_question` against raw llama-cpp-python on the same prompt.

Run on demand: `.venv/bin/python tests/bench/bench_answer.py [--runs N] [--lora PATH]`.
Five real SQuAD-sized passages (from ../shared/data when present, else synthetic prose) go
to the model; the baseline is `llama_cpp.Llama.create_completion` streaming the exact prompt
our path built, so the ratio is the cost of everything we add (the reader, answerability
judgement, prompt fitting, stop filtering, citation and support checks). The same questions
also go through the path without the reader, and the reader alone is timed on the five
passages. Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, peak_rss_mb, prose, timed, vocabulary

SQUAD = Path(__file__).resolve().parents[3] / "shared" / "data" / "squad2-dev-half.json"


def passages_and_questions(n_questions: int) -> list[tuple[str, list[str]]]:
    rng = random.Random(7)
    if SQUAD.is_file():
        data = json.loads(SQUAD.read_text(encoding="utf-8"))["data"]
        paragraphs = [(p["context"], [q["question"] for q in p["qas"]])
                      for a in data for p in a["paragraphs"]]
        rng.shuffle(paragraphs)
        out = []
        for i in range(n_questions):
            five = [paragraphs[(i * 5 + j) % len(paragraphs)] for j in range(5)]
            out.append((five[0][1][0], [text[:900] for text, _ in five]))
        return out
    words = vocabulary()
    return [("What does the first passage say?", [prose(rng, words, 6) for _ in range(5)])
            for _ in range(n_questions)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--lora", help="adapter (default: the shipped grounded adapter)")
    args = parser.parse_args()

    from assistant.answer import answer_question
    from assistant.llm import Generator, ensure_default_model
    from assistant.llm.grounded import builtin_adapter_path
    from assistant.search import Hit

    model = ensure_default_model()
    lora = Path(args.lora) if args.lora else builtin_adapter_path()
    generator = Generator(model, n_ctx=2048)
    if lora is not None:
        generator.set_adapter(lora, 1.0)
    cases = passages_and_questions(args.runs)

    from assistant.answer.reader import shipped_reader

    reader = shipped_reader()
    if reader is not None:
        reader.read("warm up", ["the reader loads its session on first use"])

    def hits_of(texts: list[str]) -> list[Hit]:
        return [Hit(chunk_id=i, document_id=i, path=f"/docs/passage-{i}.txt", page=None,
                    start=0, end=len(t), text=t, score=1.0, similarity=0.6,
                    keyword_rank=i + 1, vector_rank=i + 1) for i, t in enumerate(texts)]

    reader_alone, without_reader = [], []
    for question, texts in cases:
        if reader is not None:
            reader_alone.append(timed(lambda q=question, t=texts: reader.read(q, t)))
        generator.forget_state()
        without_reader.append(timed(lambda q=question, t=texts: answer_question(
            q, retriever=lambda _q, k, h=hits_of(t): h[:k], generator=generator, top_k=5,
            reader=None)))

    ours_total, ours_ttft, ours_tps, prompts = [], [], [], []
    refused = 0
    for question, texts in cases:
        hits = hits_of(texts)
        generator.forget_state()
        started = time.perf_counter()
        answer = answer_question(question, retriever=lambda q, k, h=hits: h[:k],
                                 generator=generator, top_k=5)
        total = time.perf_counter() - started
        refused += answer.not_found
        ours_total.append(total)
        if answer.first_token_seconds is not None:
            ours_ttft.append(answer.first_token_seconds)
            gen_time = total - answer.first_token_seconds
            if answer.completion_tokens > 1 and gen_time > 0:
                ours_tps.append((answer.completion_tokens - 1) / gen_time)
        prompts.append(answer.prompt or "")

    raw_total, raw_ttft, raw_tps = [], [], []
    llama = generator.llama
    for prompt in prompts:
        if not prompt:
            continue
        llama.reset()
        generator.forget_state()
        started = time.perf_counter()
        first = None
        n = 0
        for _chunk in llama.create_completion(prompt, max_tokens=256, temperature=0.0,
                                              stop=["\n"], stream=True):
            n += 1
            if first is None:
                first = time.perf_counter() - started
        total = time.perf_counter() - started
        raw_total.append(total)
        if first is not None:
            raw_ttft.append(first)
            if n > 1 and total > first:
                raw_tps.append((n - 1) / (total - first))
        generator.forget_state()

    def show(name: str, ours: list[float], raw: list[float], unit: str) -> None:
        if not ours or not raw:
            print(f"{name}: not enough data")
            return
        o, r = median(ours), median(raw)
        print(f"{name}: ours {o:.3f} {unit}, raw llama-cpp-python {r:.3f} {unit}, "
              f"ratio {o / r:.2f}")

    print(f"answer path, 5 passages, {len(cases)} questions, adapter: "
          f"{lora.name if lora else 'none'}")
    show("time to first token (median)", ours_ttft, raw_ttft, "s")
    show("decode speed (median)", ours_tps, raw_tps, "tokens/s")
    show("whole answer (median)", ours_total, raw_total, "s")
    if reader_alone:
        print(f"the reader alone, 5 passages: median {median(reader_alone) * 1000:.0f} ms")
    print(f"whole answer with the reader {median(ours_total):.3f} s ({refused} of "
          f"{len(cases)} refused by it), without {median(without_reader):.3f} s: ratio "
          f"{median(ours_total) / median(without_reader):.2f}")
    print(f"peak memory {peak_rss_mb():.0f} MB")
    generator.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
