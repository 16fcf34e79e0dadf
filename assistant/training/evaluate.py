"""Before/after evaluation of an adapter on the validation split, in the app's own runtime.

Everything runs in llama.cpp with the GGUF files the app will use (base model, and base model
plus the exported adapter), so the numbers describe what the user will get:

* loss: mean negative log-likelihood per response token (EOS included) given the prompt;
* exact match and token F1 of the greedy answer against the target;
* each with the sources in the prompt (retrieval on) and without them (retrieval off): the
  2x2 table base/adapter x sources/no sources shows what the adapter adds to RAG and what
  RAG adds to the adapter;
* a few answers side by side.

`save_report` writes the result as JSON and Markdown.
"""

from __future__ import annotations

import json
import string
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import Cancelled, UserError
from assistant.training.batches import IGNORE_INDEX, encode_example
from assistant.training.data import MIN_EXAMPLES_FOR_VALIDATION, Example
from assistant.training.parity import close_llama, open_llama

MODELS = ("base", "adapter")
SETTINGS = ("sources", "no_sources")
_STOPS = ("\nQuestion:", "\nSources:")


@dataclass(frozen=True)
class Cell:
    """One cell of the 2x2 table: a model (base/adapter) with or without sources."""

    loss: float | None  # mean response-token NLL, nats
    exact_match: float | None  # fraction, None when generation was skipped
    token_f1: float | None
    examples: int


@dataclass
class EvalReport:
    table: dict[str, dict[str, Cell]]  # table[model][setting]
    samples: list[dict[str, str]]
    examples: int
    with_sources: int  # validation examples that have sources (others read the same twice)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"table": {m: {s: asdict(c) for s, c in row.items()}
                          for m, row in self.table.items()},
                "samples": self.samples, "examples": self.examples,
                "with_sources": self.with_sources, "settings": self.settings}

    def to_markdown(self) -> str:
        def num(x: float | None, pct: bool = False) -> str:
            if x is None:
                return "-"
            return f"{100 * x:.0f}%" if pct else f"{x:.3f}"

        lines = ["# Adapter evaluation", "",
                 f"{self.examples} validation example{'s' if self.examples != 1 else ''} "
                 f"({self.with_sources} with sources).", "",
                 "| model | sources | loss (nats/token) | exact match | token F1 |",
                 "|---|---|---|---|---|"]
        for model in MODELS:
            for setting in SETTINGS:
                c = self.table[model][setting]
                lines.append(f"| {model} | {'with' if setting == 'sources' else 'without'} | "
                             f"{num(c.loss)} | {num(c.exact_match, True)} | "
                             f"{num(c.token_f1, True)} |")
        lines += ["", "Lower loss is better. Retrieval on = the prompt holds the numbered "
                  "sources, as in the app.", ""]
        for i, sample in enumerate(self.samples, 1):
            lines += [f"## Example {i}", "", f"**Question:** {sample['question']}", "",
                      f"**Target:** {sample['target']}", "",
                      f"**Base model:** {sample['base']}", "",
                      f"**With adapter:** {sample['adapter']}", ""]
        return "\n".join(lines)


# ------------------------------------------------------------------------------ metrics

def normalize_answer(text: str) -> list[str]:
    """Lower case, no punctuation, collapsed whitespace; as words."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if ch in string.punctuation or unicodedata.category(ch).startswith("P")
                   else ch for ch in text)
    return text.split()


def exact_match(prediction: str, target: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(target))


def token_f1(prediction: str, target: str) -> float:
    pred, gold = normalize_answer(prediction), normalize_answer(target)
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


# ------------------------------------------------------------------------------ llama.cpp

def _log_softmax_row(row: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    x = row.astype(np.float64)
    m = x.max()
    return np.asarray(x - m - np.log(np.exp(x - m).sum()))


def _encode(llama: Any, example: Example, *, with_sources: bool, max_length: int
            ) -> tuple[list[int], list[int]]:
    def tokenize(text: str) -> list[int]:
        return list(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    enc = encode_example(tokenize, int(llama.token_bos()), int(llama.token_eos()), example,
                         max_length, with_sources=with_sources)
    return enc.input_ids, enc.labels


def response_logprobs(llama: Any, example: Example, *, with_sources: bool = True,
                      max_length: int | None = None) -> list[float]:
    """Log-probabilities of the response tokens (and EOS) given the prompt, in llama.cpp.

    `llama` must be made with logits_all=True (see parity.open_llama).
    """
    limit = max_length or int(llama.n_ctx())
    ids, labels = _encode(llama, example, with_sources=with_sources, max_length=limit)
    llama.reset()
    llama.eval(ids)
    out: list[float] = []
    for t in range(len(ids) - 1):
        target = labels[t + 1]
        if target == IGNORE_INDEX:
            continue
        out.append(float(_log_softmax_row(np.asarray(llama.scores[t]))[target]))
    return out


def generate_answer(llama: Any, example: Example, *, with_sources: bool = True,
                    max_new_tokens: int = 96) -> str:
    """Greedy answer to the example's prompt (stops at EOS or where a new question starts).

    A blank line also ends the answer unless the target itself has paragraphs: the base
    model otherwise runs on into unrelated text that no target contains.
    """
    stops = list(_STOPS)
    if "\n\n" not in example.response.strip():
        stops.append("\n\n")
    try:
        result = llama.create_completion(example.render_prompt(with_sources=with_sources),
                                         max_tokens=max_new_tokens, temperature=0.0, top_k=1,
                                         top_p=1.0, repeat_penalty=1.0, stop=stops, seed=0)
    except ValueError:  # the prompt does not fit the context: scored as no answer
        return ""
    return str(result["choices"][0]["text"]).strip()


def _needed_ctx(llama: Any, examples: Sequence[Example]) -> int:
    longest = 0
    for e in examples:
        ids, _ = _encode(llama, e, with_sources=True, max_length=1 << 30)
        longest = max(longest, len(ids))
    return longest


def evaluate(validation: Sequence[Example], base_gguf: Path, adapter_gguf: Path, *,
             max_new_tokens: int = 96, n_samples: int = 3, generate: bool = True,
             adapter_scale: float = 1.0, max_ctx: int = 2048, n_threads: int | None = None,
             progress: Callable[[int, int], None] | None = None,
             cancel: threading.Event | None = None) -> EvalReport:
    """The 2x2 evaluation (base/adapter x sources/no sources) on `validation`."""
    if not validation:
        raise UserError("There is no validation example to evaluate on: with fewer than "
                        f"{MIN_EXAMPLES_FOR_VALIDATION} examples none is held out.")
    settings = {"max_new_tokens": max_new_tokens, "adapter_scale": adapter_scale,
                "base_model": str(base_gguf), "adapter": str(adapter_gguf),
                "runtime": "llama.cpp"}
    # Size the context to the longest example (llama-cpp-python keeps n_ctx x vocab logits).
    probe = open_llama(base_gguf, n_ctx=64, n_threads=n_threads)
    try:
        longest = _needed_ctx(probe, validation)
    finally:
        close_llama(probe)
    n_ctx = min(max_ctx, ((longest + max_new_tokens) // 64 + 1) * 64)

    total = len(MODELS) * len(SETTINGS) * len(validation)
    done = 0
    losses: dict[tuple[str, str], list[float]] = {}
    answers: dict[tuple[str, str], list[str]] = {}
    for model in MODELS:
        llama = open_llama(base_gguf, n_ctx=n_ctx, n_threads=n_threads,
                           lora_path=adapter_gguf if model == "adapter" else None,
                           scale=adapter_scale)
        try:
            for setting in SETTINGS:
                with_sources = setting == "sources"
                token_lps: list[float] = []
                outs: list[str] = []
                for example in validation:
                    if cancel is not None and cancel.is_set():
                        raise Cancelled("Evaluation stopped.")
                    token_lps += response_logprobs(llama, example, with_sources=with_sources,
                                                   max_length=n_ctx)
                    if generate:
                        outs.append(generate_answer(llama, example, with_sources=with_sources,
                                                    max_new_tokens=max_new_tokens))
                    done += 1
                    if progress is not None:
                        progress(done, total)
                losses[(model, setting)] = token_lps
                answers[(model, setting)] = outs
        finally:
            close_llama(llama)

    table: dict[str, dict[str, Cell]] = {}
    for model in MODELS:
        table[model] = {}
        for setting in SETTINGS:
            lps, outs = losses[(model, setting)], answers[(model, setting)]
            em = f1 = None
            if generate:
                em = sum(exact_match(o, e.response) for o, e in zip(outs, validation,
                                                                    strict=True)) / len(outs)
                f1 = sum(token_f1(o, e.response) for o, e in zip(outs, validation,
                                                                 strict=True)) / len(outs)
            table[model][setting] = Cell(loss=-sum(lps) / len(lps) if lps else None,
                                         exact_match=em, token_f1=f1,
                                         examples=len(validation))
    samples: list[dict[str, str]] = []
    if generate:
        for i, example in enumerate(validation[:n_samples]):
            samples.append({"question": example.prompt, "target": example.response,
                            "base": answers[("base", "sources")][i],
                            "adapter": answers[("adapter", "sources")][i]})
    return EvalReport(table=table, samples=samples, examples=len(validation),
                      with_sources=sum(1 for e in validation if e.sources), settings=settings)


def save_report(report: EvalReport, out_dir: Path, stem: str = "evaluation"
                ) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.md` into out_dir; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n",
                         encoding="utf-8")
    md_path.write_text(report.to_markdown() + "\n", encoding="utf-8")
    return json_path, md_path

