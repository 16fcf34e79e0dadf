"""Question -> answer from the user's documents, with citations of the exact passages.

The flow:

1. build a retrieval query from the conversation and retrieve passages;
2. decide whether the question is answerable (`answerability`): retrieval lets passages
   through by similarity and by agreement of keyword and vector search; if none passes, the
   answer is "not in your documents" without asking the model;
3. fit the passages and earlier turns into the model's context (`prompt`);
4. ask the model for its judgement (the probability it opens with the refusal, which the
   grounded-answer adapter has learned to write when no passage holds the answer), then
   generate its best answer and decide (`answerability.refusal_score`: that probability,
   the passages' similarity and the answer's own confidence, weighed by calibration);
5. map `[n]` markers to passages, infer them where the model wrote none (`citations`);
6. check every sentence against the passage it cites and drop what is unsupported
   (`support`); when nothing is left, quote the passage sentence that best matches the
   question instead;
7. check that the answer is of the kind the question asks for (`answer_types`: a price for
   "how much does it cost", a count for "how many"), a price for whom it asks (`rates`: not
   the adults' for a child's) and that the passages it cites name the
   numbers, days and months the question pins down (`qualifiers`: "on Saturdays", "Stage 3"),
   and, for a question about what is not so, a negation beside the answer (`negation`), and
   no opposite of a word the question asks about there ("highest" for "lowest": `opposites`);
   an answer failing any is a neighbouring fact, so the reader's span that passes replaces
   it, or the answer is "not in your documents" (except at lenient);
8. a question asking yes or no ("Can we have a dog?") is answered with the passages'
   sentence that says so, quoted, rather than a phrase of it or the model's "yes" (`yes_no`).

With the reader (`reader`, shipped in resources/reader): it reads the passages after
retrieval; its best probability is one more input of the decision in step 4, and it refuses
before any generation when no passage reaches the strictness's `reader_at` (only at strict);
the answer's words are checked against the reader's span in the passage they
cite (marked for the highlight when they agree); when they disagree and the reader is
confident of a one-line span (`overruling_span`), or nothing usable is left, the answer is
the reader's span, quoted, rather than the generator's words or a whole sentence.

Every answer says which case it is (`Answer.grounding`): "answered" from `[n]`, "quoted" from
a passage, or "not_found". Base models get a completion prompt with stop strings, and
answers end at the first line break (the 270M model's later lines were run-on copies).
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from assistant.answer import (
    answer_types,
    answerability,
    echo,
    negation,
    opposites,
    qualifiers,
    rates,
    support,
    yes_no,
)
from assistant.answer.answer_sentence import sentence_probability
from assistant.answer.citations import (
    MARKER_GROUP as MARKERS,
)
from assistant.answer.citations import (
    Citation,
    hit_json,
    infer_citations,
    parse_citations,
)
from assistant.answer.lacking import named
from assistant.answer.overrule import (
    by_probability,
    in_table_row,
    likeliest_span,
    overruling_span,
    trusted_span,
)
from assistant.answer.prompt import (
    ANSWER_MARGIN,
    HistoryLike,
    TextModel,
    build_prompt,
    retrieval_query,
    turns_of,
)
from assistant.answer.reader import Reader, Reading, agrees, shipped_reader
from assistant.errors import ModelError
from assistant.search import Hit

NOT_FOUND_TEXT = "I couldn't find this in your documents."
EMPTY_ANSWER_TEXT = "The model gave no answer."  # only ever for --no-docs answers now
DEFAULT_COPY_BIAS = 0.0  # see source_bias; applied to base-model prompts only when > 0

SHIPPED = "shipped"  # answer_question's reader: the one installed with the app
RERANK_DEPTH = 20  # hits the reader reads when it reranks
DEFAULT_RERANK = False  # see README, "Answer quality": on by default only where it helps
CitationSource = Literal["model", "inferred", "none"]
Grounding = Literal["answered", "quoted", "not_found", "model_only"]


@dataclass
class Answer:
    """The answer shown to the user plus everything needed to show where it came from.

    `consulted` are the passages given to the model, numbered 1.. in that order (for a
    not-found answer: the nearest passages). `grounding` says what the answer is: generated
    and supported by the cited passages, a quote of a passage, not found, or (with no_docs)
    the model alone.
    """

    text: str
    citations: list[Citation]
    consulted: list[Hit]
    not_found: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cancelled: bool = False
    citation_source: CitationSource = "none"
    history_used: int = 0
    seconds: float = 0.0
    prompt: str = field(default="", repr=False)
    grounding: Grounding = "answered"
    refusal_probability: float | None = None  # the model's judgement, where it was read
    refusal_score: float | None = None  # the answerability decision's score (refused >= level)
    # for not-found answers: "retrieval", "reader", "model", "answer_type" (the answer was of
    # another kind than the question asks for: `answer_types`), "rate" (a price for someone
    # else: the adults' for a child's, `rates`), "qualifier" (its passages
    # lack a number, an ordinal, a day or a month the question names: `qualifiers`),
    # "negation" (the question asks what is not so; nothing beside the answer says so),
    # "opposite" (the answer's sentence says the opposite of the question's "lowest",
    # "public", ...: `opposites`) or "echo" (the answer only repeats the question: `echo`)
    not_found_reason: str = ""
    # sentences dropped by the support check; for a refusal after generation, the model's
    # draft that was withheld (it was streamed, so a caller can say it is withdrawn)
    unsupported: list[str] = field(default_factory=list)
    quote: support.Quote | None = None
    first_token_seconds: float | None = None
    token_logprobs: list[float] = field(default_factory=list, repr=False)  # generated tokens
    reader_probability: float | None = None  # the reader's best "a passage holds it"
    # what the answer-or-refuse decision read (None where it did not decide), so that an
    # evaluation can weigh the same answers again with other weights
    evidence: answerability.Evidence | None = field(default=None, repr=False)
    span: support.Quote | None = None  # the reader's answer span in the cited passage

    @property
    def sentence_probability(self) -> float | None:
        """The reader's probability for the answer's sentence and its neighbours, read alone
        (where the decision read it)."""
        return None if self.evidence is None else self.evidence.sentence_probability

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "answer": self.text,
            "citations": [c.to_json() for c in self.citations],
            "consulted": [hit_json(n, hit) for n, hit in enumerate(self.consulted, start=1)],
            "not_found": self.not_found,
            "grounding": self.grounding,
        }
        if self.not_found_reason:
            out["not_found_reason"] = self.not_found_reason
        if self.refusal_probability is not None:
            out["refusal_probability"] = round(self.refusal_probability, 4)
        if self.refusal_score is not None:
            out["refusal_score"] = round(self.refusal_score, 4)
        if self.unsupported:
            out["unsupported"] = self.unsupported
        if self.quote is not None:
            out["quote"] = {"n": self.quote.n, "text": self.quote.text,
                            "start": self.quote.start, "end": self.quote.end}
        if self.reader_probability is not None:
            out["reader_probability"] = round(self.reader_probability, 4)
        if self.sentence_probability is not None:
            out["sentence_probability"] = round(self.sentence_probability, 4)
        if self.span is not None:
            out["span"] = {"n": self.span.n, "text": self.span.text,
                           "start": self.span.start, "end": self.span.end}
        return out


# --------------------------------------------------------------------------- answering

def source_bias(generator: TextModel, hits: Sequence[Hit], bias: float) -> dict[int, float]:
    """A logit bias towards the tokens of the sources (and the tokens that end an answer).

    A 270M base model readily swaps a number or name from the passage for one it likes
    better ("15 days" for "25 days"); nudging it towards tokens it can copy from the sources
    makes it quote them. Line ends and end tokens get the same bias so answers still stop.
    """
    tokens: set[int] = set(generator.end_tokens())
    tokens.update(generator.tokenize("\n."))
    for hit in hits:
        text = " ".join(hit.text.split())
        tokens.update(generator.tokenize(text))
        tokens.update(generator.tokenize(" " + text))
    return dict.fromkeys(sorted(tokens), bias)


def _repeats(text: str) -> int | None:
    """Where a looping answer starts repeating an earlier sentence (None when it does not)."""
    sentences = [(m.start(), m.group(0).strip()) for m in re.finditer(r"[^.!?\n]+[.!?]", text)]
    seen: set[str] = set()
    for start, sentence in sentences:
        if len(sentence) >= 8 and sentence in seen:
            return start
        seen.add(sentence)
    return None


def _clean(text: str) -> str:
    text = text.strip()
    text = re.sub(r"^(Answer\s*:\s*)", "", text, flags=re.IGNORECASE)
    return text.strip()


def _not_found(hits: list[Hit], started: float, reason: str,
               judgement: answerability.Judgement | None = None) -> Answer:
    return Answer(NOT_FOUND_TEXT, [], hits, True, seconds=time.monotonic() - started,
                  grounding="not_found", not_found_reason=reason,
                  refusal_probability=None if judgement is None else
                  judgement.refusal_probability)


# The refusal with another subject: with its opening " I" held back (the decision wants the
# model's best answer where it leans to refusing), the model still refuses, as "we couldn't
# find this in your documents." or "it couldn't find ..."; such an answer is no answer, and
# quoting the reader's span in its place gave "lost" for what to do about the heating.
_REFUSAL = re.compile(r"(?:i|we|it|they)\s+(?:couldn'?t|could not|can'?t|cannot|"
                      r"(?:was|were|am|are) unable to)\s+find\b")


def _is_refusal(text: str) -> bool:
    """The model wrote the refusal (or its start) itself, whatever its subject."""
    low = text.strip().lower().replace("\u2019", "'")
    return len(low) >= 12 and (NOT_FOUND_TEXT.lower().startswith(low[:24]) or
                               low.startswith(("the documents do not", "the sources do not"))
                               or _REFUSAL.match(low) is not None)


def answer_question(question: str, *, retriever: Callable[[str, int], list[Hit]],
                    generator: TextModel, top_k: int = 5,
                    strictness: str = answerability.DEFAULT_STRICTNESS,
                    relevance_floor: float | None = None,
                    history: HistoryLike | None = None, no_docs: bool = False,
                    on_token: Callable[[str], None] | None = None,
                    cancel: threading.Event | None = None, max_tokens: int = 256,
                    temperature: float = 0.0, infer_missing_citations: bool = True,
                    copy_bias: float = DEFAULT_COPY_BIAS, judge: bool = True,
                    focus_words: int | None = None, reader: Reader | str | None = SHIPPED,
                    rerank: bool | None = None) -> Answer:
    """Answer `question` from the documents (or, with `no_docs`, from the model alone).

    `strictness` ("lenient", "balanced", "strict") sets the answerability decision;
    `relevance_floor`, when given, replaces its cosine floor (for callers of the old API).
    `focus_words` > 0 gives the model only each passage's sentences nearest the question
    (`focus`); the default is `focus.FOCUS_WORDS`.
    `on_token` receives the text as it is generated; the final `Answer.text` may differ
    (markers fixed, unsupported sentences dropped, or a quote instead), so show it when done.
    Cancelling returns what was generated so far with `cancelled=True`.
    `reader` judges the passages (`reader`): the shipped one by default, None for none (the
    generator's own judgement then decides, as before the reader). With `rerank` (default
    DEFAULT_RERANK) it reads the first RERANK_DEPTH hits and keeps the `top_k` it rates best.
    """
    started = time.monotonic()
    question = question.strip()
    if not question:
        raise ModelError("Ask a question first.")
    level = answerability.strictness(strictness)
    if relevance_floor is not None:
        level = dataclasses.replace(level, floor=relevance_floor,
                                    agreed_floor=min(level.agreed_floor, relevance_floor))
    turns = turns_of(history)
    hits: list[Hit] = []
    judge_reader = shipped_reader() if reader == SHIPPED else reader
    readings: dict[int, Reading] = {}  # id(hit) -> the reader's view of it
    query = question
    reader_p: float | None = None
    if not no_docs:
        deep = isinstance(judge_reader, Reader) and (DEFAULT_RERANK if rerank is None
                                                     else rerank)
        query = retrieval_query(question, turns)  # a follow-up is read with its context
        hits = list(retriever(query, max(top_k, RERANK_DEPTH) if deep else top_k))
        usable = answerability.usable_passages(hits, level)
        if not usable:
            return _not_found(hits[:top_k], started, "retrieval")
        if isinstance(judge_reader, Reader):
            if deep:
                pairs = judge_reader.rerank(query, usable)
                usable, read = [h for h, _ in pairs], [r for _, r in pairs]
            else:
                read = judge_reader.read(query, [hit.text for hit in usable])
            usable, read = usable[:top_k], read[:top_k]
            readings = {id(hit): r for hit, r in zip(usable, read, strict=True)}
            reader_p = max(r.judged for r in read)  # the judge head's, where it has one
            if reader_p < level.reader_at:  # only "strict" refuses on the reader alone
                answer = _not_found(usable, started, "reader")
                answer.reader_probability = reader_p
                return answer
        hits = usable[:top_k]

    budget = generator.n_ctx - max_tokens - ANSWER_MARGIN
    if budget < 64:
        raise ModelError(f"The context size ({generator.n_ctx} tokens) leaves no room for "
                         f"sources next to a {max_tokens}-token answer; raise it.")
    prompt = build_prompt(question, hits, turns, generator, budget, no_docs=no_docs,
                          focus_words=focus_words)
    judgement = None
    bias: dict[int, float] | None = None
    calibrated = answerability.calibrated_for(generator)
    if prompt.messages is None and not no_docs and judge:
        judgement = answerability.judge(generator, prompt.text, NOT_FOUND_TEXT)
        if judgement is not None and judgement.refuse:
            return _not_found(prompt.hits, started, "model", judgement)
        if judgement is not None and judgement.greedy_refuses and calibrated:
            # The model leans to refusing: let it write its best answer anyway, so that the
            # decision below weighs that answer's confidence with the other signals.
            bias = dict.fromkeys(answerability.refusal_tokens(generator, NOT_FOUND_TEXT)[:1],
                                 -100.0)
    if prompt.messages is not None:
        pieces = generator.stream_chat(prompt.messages, max_tokens=max_tokens,
                                       temperature=temperature, stop=prompt.stop, cancel=cancel)
    else:
        if copy_bias and prompt.hits:
            bias = {**source_bias(generator, prompt.hits, copy_bias), **(bias or {})}
        pieces = generator.stream(prompt.text, max_tokens=max_tokens, temperature=temperature,
                                  stop=prompt.stop, cancel=cancel, logit_bias=bias)
    text = ""
    first_token: float | None = None
    try:
        for piece in pieces:
            if first_token is None:
                first_token = time.monotonic() - started
            text += piece
            cut = _repeats(text)
            if cut is not None:
                text = text[:cut]
                break
            if on_token is not None:
                on_token(piece)
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
    cancelled = cancel is not None and cancel.is_set()
    logprobs = [float(v) for v in getattr(generator, "last_logprobs", None) or []]
    count = generator.count_tokens(text)
    text = _clean(text)
    refusal_p = None if judgement is None else judgement.refusal_probability
    refusal_score: float | None = None
    evidence: answerability.Evidence | None = None
    threshold = 1.0

    def done(text: str, citations: list[Citation], grounding: Grounding, **extra: Any) -> Answer:
        return Answer(text=text, citations=citations, consulted=prompt.hits, not_found=False,
                      prompt_tokens=prompt.tokens, completion_tokens=count, cancelled=cancelled,
                      history_used=prompt.history_used, seconds=time.monotonic() - started,
                      prompt=prompt.text, grounding=grounding, refusal_probability=refusal_p,
                      first_token_seconds=first_token, token_logprobs=logprobs,
                      refusal_score=refusal_score, reader_probability=reader_p,
                      evidence=evidence, **extra)

    if no_docs:
        return done(text or ("" if cancelled else EMPTY_ANSWER_TEXT), [], "model_only")
    if cancelled:
        cleaned, citations = parse_citations(text, prompt.hits)
        return done(cleaned, citations, "answered",
                    citation_source="model" if citations else "none")
    if judgement is not None and calibrated:
        sentence_p = sentence_probability(judge_reader, query, text, prompt.hits) \
            if isinstance(judge_reader, Reader) and reader_p is not None else None
        evidence = answerability.Evidence(
            judgement.refusal_probability, answerability.retrieval_confidence(prompt.hits),
            answerability.answer_logprob(logprobs),
            answerability.question_coverage(question, prompt.hits), reader_p, sentence_p)
        refusal_score = answerability.refusal_score(evidence)
        threshold = answerability.refuse_at(level, evidence)
    if _is_refusal(text) or (refusal_score is not None and refusal_score >= threshold):
        return _refused(done(text, [], "answered"), "model", started, judgement)
    return checked_answer(question, text, prompt.hits, readings, done, level=level,
                          infer_missing_citations=infer_missing_citations, started=started,
                          judgement=judgement)


def checked_answer(question: str, text: str, hits: list[Hit], readings: dict[int, Reading],
                   done: Callable[..., Answer], *, level: answerability.Strictness,
                   infer_missing_citations: bool = True, started: float = 0.0,
                   judgement: answerability.Judgement | None = None) -> Answer:
    """Every step after the model has written `text` and the decision let it stand: the support
    check (with the reader's spans, where it read `hits`), the checks on the kind of answer
    (not at lenient), the sentence for a question asking yes or no or what a text says.
    `done` makes the Answer from its text, citations and grounding. Also what
    tests/bench/replay_support.py replays recorded answers through."""
    if readings:
        answer = _supported_by_reader(question, text, hits, readings, done)
    else:
        answer = _supported(question, text, hits, infer_missing_citations, done, started)
    if answer.grounding in ("answered", "quoted") and level.name != "lenient":
        reason = _mismatch(question, _words(answer), [c.hit for c in answer.citations])
        if reason is not None:
            answer = _of_the_kind_asked(question, answer, reason, readings, done, started,
                                        judgement)
    return _as_sentence(question, answer, done)


def _as_sentence(question: str, answer: Answer, done: Callable[..., Answer]) -> Answer:
    """For a question asking yes or no (`yes_no`), the sentence of the passages given that
    answers it, quoted, cited and highlighted there: "10 kg" is no answer to "Can we have a
    dog?", the sentence allowing one small dog under 10 kg is. The model's own "yes" or "no"
    is not repeated (a small model gets it wrong often enough: "yes" to the dishwasher); the
    sentence says which. For a question asking what a text says about something
    (`yes_no.asks_what_it_says`), the sentence holding the answer's words in the passage it
    cites. Other answers, and refusals, as they are."""
    says = yes_no.asks_what_it_says(question)
    if answer.not_found or answer.grounding not in ("answered", "quoted") \
            or not answer.citations or not (says or yes_no.asks_yes_or_no(question)):
        return answer
    if answer.grounding == "quoted" and answer.span is None:
        return answer  # a passage's sentence already (`support.best_quote`)
    hits = answer.consulted
    words = _words(answer)
    marks: dict[int, tuple[int, int]] = {}
    for c in answer.citations:
        if answer.span is not None and answer.span.n == c.n:
            marks[c.n] = (answer.span.start, answer.span.end)
        elif (at := yes_no.answer_at(words, c.hit.text)) is not None:
            marks.setdefault(c.n, at)
    if says:  # what the text says: the sentence holding the answer's words, where it cites
        found = next(((n, *at) for n, (a, b) in marks.items()
                      if (at := yes_no.sentence_holding(hits[n - 1].text, a, b)) is not None),
                     None)
    else:
        found = yes_no.answering_sentence(question, [h.text for h in hits], marks)
    if found is None:
        return answer
    n, start, end = found
    if end - start <= len(words.strip()):
        return answer
    quote = support.Quote(n, hits[n - 1].text[start:end], start, end)
    return done(support.span_answer(quote), [Citation(n, hits[n - 1])], "quoted",
                citation_source="inferred", quote=quote, span=quote, unsupported=[answer.text])


def _supported(question: str, text: str, hits: list[Hit], infer_missing_citations: bool,
               done: Callable[..., Answer], started: float) -> Answer:
    """The support check without the reader: the sentences a cited passage supports, or a
    labelled quote of the passage sentence nearest the question."""
    source: CitationSource = "none"
    text, citations = parse_citations(text, hits)
    if citations:
        source = "model"
    elif infer_missing_citations and text:
        text, citations = infer_citations(text, hits)
        source = "inferred" if citations else "none"
    checked = support.check(text, hits)
    if checked.text and checked.citations:
        return done(checked.text, checked.citations, "answered", citation_source=source,
                    unsupported=checked.dropped)
    quote = support.best_quote(question, hits, hint=text)
    if quote is None:  # no passage text at all: nothing to quote
        return _not_found(hits, started, "retrieval")
    n = quote.n
    return done(support.quoted_answer(quote), [Citation(n, hits[n - 1])], "quoted",
                citation_source="inferred", unsupported=checked.dropped or
                ([text] if text else []), quote=quote)


def _words(answer: Answer) -> str:
    """What the answer says, without markers or the quote's lead-in."""
    if answer.quote is not None:
        return answer.quote.text
    return MARKERS.sub("", answer.text)


def _mismatch(question: str, words: str, cited: Sequence[Hit]) -> str | None:
    """Why an answer cannot be the answer to `question`, or None: "answer_type" when its words
    are of another kind than the question asks for (`answer_types`), "rate" when they give a
    price for someone else than the question asks for (`rates`), "qualifier" when the
    passages it cites lack a number, an ordinal, a day or a month the question names
    (`qualifiers`), "negation" when the question asks what is not so and nothing beside the
    answer in its passages says anything is not (`negation`), "opposite" when they say the
    opposite of a word the question asks about ("highest" for "lowest": `opposites`), "echo"
    when the answer only repeats the question's words (`echo`)."""
    if echo.repeats_question(words, question):
        return "echo"
    if not answer_types.fits(words, question):
        return "answer_type"
    if rates.unmet(question, words):
        return "rate"
    if qualifiers.unmet(question, "\n".join(named(h.path, h.text) for h in cited)):
        return "qualifier"
    texts = [h.text for h in cited]
    if negation.unmet(question, words, texts):
        return "negation"
    if opposites.unmet(question, words, texts):
        return "opposite"
    return None


def _of_the_kind_asked(question: str, answer: Answer, reason: str,
                       readings: dict[int, Reading], done: Callable[..., Answer],
                       started: float, judgement: answerability.Judgement | None) -> Answer:
    """An answer that cannot be the answer (`_mismatch`: "1.6 litres" for a price, Thursday's
    hours for Sunday's) is replaced by the reader's span in a passage it rates at
    READER_OVERRULES_AT or more where that span would pass, else refused: the passages hold a
    neighbouring fact, not the answer."""
    hits = answer.consulted
    for n in by_probability(hits, readings):
        hit, reading = hits[n - 1], readings[id(hits[n - 1])]
        if not trusted_span(hit.text, reading) or \
                _mismatch(question, reading.span(hit.text), [hit]) is not None:
            continue
        quote = support.Quote(n, reading.span(hit.text), reading.start, reading.end)
        return done(support.span_answer(quote), [Citation(n, hit)], "quoted",
                    citation_source="inferred", quote=quote, span=quote,
                    unsupported=[answer.text])
    return _refused(answer, reason, started, judgement)


def _refused(answer: Answer, reason: str, started: float,
             judgement: answerability.Judgement | None) -> Answer:
    """"Not in your documents" in place of a written answer: the nearest passages listed, the
    evidence and timings kept, and what the model wrote kept aside in `unsupported` (it was
    streamed, so a caller can say it is withdrawn), unless it was the refusal itself."""
    refused = _not_found(answer.consulted, started, reason, judgement)
    for name in ("refusal_score", "prompt_tokens", "completion_tokens", "first_token_seconds",
                 "reader_probability", "evidence", "token_logprobs", "prompt"):
        setattr(refused, name, getattr(answer, name))
    if answer.text and not _is_refusal(answer.text):
        refused.unsupported = [answer.text]
    return refused


def _supported_by_reader(question: str, text: str, hits: list[Hit],
                         readings: dict[int, Reading], done: Callable[..., Answer]) -> Answer:
    """The support check with the reader: the generator's answer stands, its words marked,
    when it agrees with the reader's span in a passage it cites; it also stands unmarked when
    the support check accepts it and the reader is not confident of a clean span of its own
    (`overruling_span`), or its words stand in a table's row. Otherwise (nothing usable, or a
    disagreement the reader overrules) the answer is the reader's span, quoted and cited."""
    source: CitationSource = "none"
    cleaned, citations = parse_citations(text, hits)
    if citations:
        source = "model"
    elif cleaned and not _is_refusal(cleaned):
        cleaned, citations = infer_citations(cleaned, hits)
        source = "inferred" if citations else "none"
    checked = support.check(cleaned, hits) if not _is_refusal(cleaned) else None
    if checked is not None and checked.text and checked.citations:
        plain = MARKERS.sub("", checked.text)
        for citation in checked.citations:
            reading = readings.get(id(citation.hit))
            if reading is not None and reading.end > reading.start and agrees(
                    plain, reading.span(citation.hit.text)):
                span = support.Quote(citation.n, reading.span(citation.hit.text),
                                     reading.start, reading.end)
                return done(checked.text, checked.citations, "answered",
                            citation_source=source, unsupported=checked.dropped, span=span)
        if overruling_span(hits, readings) is None or any(  # supported by its passage's words
                in_table_row(plain, c.hit.text) for c in checked.citations):
            return done(checked.text, checked.citations, "answered", citation_source=source,
                        unsupported=checked.dropped)
    n = likeliest_span(hits, readings)
    if n is not None:
        hit, reading = hits[n - 1], readings[id(hits[n - 1])]
        quote = support.Quote(n, reading.span(hit.text), reading.start, reading.end)
        return done(support.span_answer(quote), [Citation(n, hit)], "quoted",
                    citation_source="inferred", quote=quote, span=quote,
                    unsupported=[text] if text and not _is_refusal(text) else [])
    best = support.best_quote(question, hits, hint=text)
    if best is None:  # no passage text at all
        answer = done(NOT_FOUND_TEXT, [], "not_found")
        answer.not_found = True
        return answer
    return done(support.quoted_answer(best), [Citation(best.n, hits[best.n - 1])], "quoted",
                citation_source="inferred", quote=best)
