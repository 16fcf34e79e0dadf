"""The answerability decision weighs the model's judgement, retrieval and the answer's confidence."""

from __future__ import annotations

import sys
from pathlib import Path

from assistant.answer import answerability
from assistant.answer.answerability import Evidence, refusal_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import calibrate_strictness


def test_each_signal_moves_the_score_the_right_way() -> None:
    # (The refusal probability's fitted weight is about 0 once the other two are known.)
    middle = Evidence(0.3, 0.5, -0.8)
    assert refusal_score(Evidence(0.3, 0.3, -0.8)) > refusal_score(middle)  # weak passages
    assert refusal_score(Evidence(0.3, 0.5, -2.5)) > refusal_score(middle)  # unsure answer


def test_a_confident_answer_from_a_close_passage_is_kept_at_every_strictness() -> None:
    for reader in (None, 0.9):  # the reader off, then the reader sure
        sure = Evidence(0.02, 0.7, -0.05, 1.0, reader)
        for level in answerability.STRICTNESS.values():
            assert refusal_score(sure) < answerability.refuse_at(level, sure), level.name
    for reader in (None, 0.01):
        lost = Evidence(0.9, 0.2, -3.0, 0.0, reader)
        for level in answerability.STRICTNESS.values():
            assert refusal_score(lost) >= answerability.refuse_at(level, lost), level.name


def test_strictness_levels_are_ordered() -> None:
    levels = answerability.STRICTNESS
    assert levels["strict"].refuse_at <= levels["balanced"].refuse_at <= \
        levels["lenient"].refuse_at
    assert levels["strict"].refuse_at_without_reader <= \
        levels["balanced"].refuse_at_without_reader <= levels["lenient"].refuse_at_without_reader


def test_the_calibration_fit_recovers_a_planted_signal() -> None:
    """The fit used for WEIGHTS finds a signal that separates two groups of rows."""
    rows = []
    for i in range(60):
        answerable = i % 2 == 0
        similarity = (0.65 if answerable else 0.40) + 0.002 * (i % 7)
        rows.append({"answerable": answerable, "refused": False, "contains": answerable,
                     "refusal_probability": 0.3 + 0.001 * (i % 5),
                     "consulted": [{"similarity": similarity}], "token_logprobs": [-0.5]})
    weights = calibrate_strictness.fit(rows)
    assert weights[2] < -1.0  # lower similarity, more refusal
    crossed = calibrate_strictness.scores(rows)
    assert all((s < 0.5) == r["answerable"] for s, r in zip(crossed, rows, strict=True))


def test_question_coverage_is_the_share_of_its_words_the_first_passage_holds() -> None:
    from assistant.search import Hit

    def hit(text: str) -> Hit:
        return Hit(0, 0, "", None, 0, 0, text, 0.0, 0.5, 1, 1)

    passage = hit("The Corliss steam engine was patented in 1849.")
    # "year" is missing; "patented" and "patent" agree by their first letters
    assert answerability.question_coverage("In what year was the Corliss engine patented?",
                                           [passage]) == 0.75
    assert answerability.question_coverage("When was the Corliss engine patent filed?",
                                           [passage]) == 0.75
    # only the first passage counts: the one the model reads first
    assert answerability.question_coverage("Who built the Rumford engine?",
                                           [hit("Rumford built it."), passage]) == 2 / 3
    assert answerability.question_coverage("?", [passage]) == 1.0  # no words at all
    assert answerability.question_coverage("Who built the engine?", []) == 0.0
    # a fitted negative weight on coverage: less coverage, more refusal (the shipped weight
    # is 0, so pass weights that use it)
    weights = (0.0, 0.0, 0.0, 0.0, -0.4)
    assert refusal_score(Evidence(0.3, 0.5, -0.8, 0.2), weights) > \
        refusal_score(Evidence(0.3, 0.5, -0.8, 1.0), weights)


def test_the_reader_joins_the_decision_when_it_read_the_passages() -> None:
    """With the reader's probability the decision uses WEIGHTS (one more input, last) and the
    level's `refuse_at`; without it, WEIGHTS_WITHOUT_READER and `refuse_at_without_reader`."""
    without = Evidence(0.3, 0.5, -0.8, 0.8)
    assert len(answerability.features(without)) == len(answerability.WEIGHTS_WITHOUT_READER)
    doubted, trusted = Evidence(0.3, 0.5, -0.8, 0.8, 0.02), Evidence(0.3, 0.5, -0.8, 0.8, 0.9)
    assert len(answerability.features(trusted)) == len(answerability.WEIGHTS)
    assert refusal_score(doubted) > refusal_score(trusted)  # the reader doubts: more refusal
    assert refusal_score(without) == refusal_score(without, answerability.WEIGHTS_WITHOUT_READER)
    level = answerability.STRICTNESS["balanced"]
    assert answerability.refuse_at(level, trusted) == level.refuse_at
    assert answerability.refuse_at(level, without) == level.refuse_at_without_reader


def test_the_shipped_decision_is_what_its_recorded_answers_fit() -> None:
    """WEIGHTS and the thresholds with the reader come from the recorded answers in
    tests/bench/decision_rows (the documented refit, with the shipped reader): a hand-edited
    weight, or a new reader shipped without refitting, fails here."""
    import re
    import subprocess

    rows = Path(__file__).resolve().parents[1] / "bench" / "decision_rows"
    out = subprocess.run(
        [sys.executable, calibrate_strictness.__file__, "--rows", str(rows / "cal_rows.json"),
         "--absent", str(rows / "plain_rows.json"), "--rows", str(rows / "plain_missing.json"),
         "--with-reader", "--refusals", "missing", "--split", "calibration",
         "--reader", str(Path(__file__).resolve().parents[2] / "resources" / "reader")],
        capture_output=True, text=True, timeout=600, check=True).stdout
    weights = re.search(r"^weights \(.*\): \[(.*)\]$", out, re.M)
    assert weights, out
    fitted = [float(w) for w in weights.group(1).split(",")]
    assert fitted == [round(w, 4) for w in answerability.WEIGHTS]
    chosen_line = re.search(r"^chosen: .*$", out, re.M)
    assert chosen_line, out
    chosen = dict(re.findall(r"(lenient|balanced|strict) ([0-9.]+)", chosen_line.group(0)))
    assert len(chosen) == 3, chosen_line.group(0)
    for name, threshold in chosen.items():
        assert float(threshold) == answerability.STRICTNESS[name].refuse_at, name
