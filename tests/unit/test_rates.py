"""A price asked for one kind of payer is not answered with another's (`assistant.answer.rates`)."""

from __future__ import annotations

import pytest

from assistant.answer import lacking, rates
from assistant.answer.answering import _mismatch


@pytest.mark.parametrize(("question", "words", "unmet"), [
    # the recorded near misses and wrong answers it was built for
    ("How much did the aquarium tickets cost per child?", "€20 per adult", True),
    ("How much does the Observation Lounge cost for a child?", "£8 per adult", True),
    ("how much is it per adult for the whole weekend",
     "£20 per child aged 4 to 15 for the whole weekend, with under-4s free", True),
    ("What is the fee for non-members?", "£10 for members", True),
    ("What is the fee for members?", "£12 for non-members", True),
    # the payer asked is among those given, or no one in particular is named
    ("How much did the aquarium tickets cost per child?", "€12 per child", False),
    ("How much did the aquarium tickets cost per child?", "€20 per person", False),
    ("How much did the aquarium tickets cost per child?", "€9", False),
    ("How much is a family ticket for two adults and two children?",
     "£30 per adult, £15 per child", False),
    ("How much does a child's ticket cost?", "£5 for children under 12", False),
    ("How much does the course cost?", "£120 for members", False),  # no payer asked
    # not a price question
    ("How many children came?", "12 adults", False),
    ("Who looks after the children?", "the adults on duty", False),
    ("how much is it per adult", "about half the room", False),  # no price given
])
def test_a_price_for_someone_else(question: str, words: str, unmet: bool) -> None:
    assert rates.unmet(question, words) is unmet


def test_non_members_are_not_members() -> None:
    assert rates.payers("£12 for non-members") == {"non-member"}
    assert rates.payers("members and their guests") == {"member", "guest"}
    assert rates.payers("a child-friendly menu") == set()


def test_the_refusal_says_why() -> None:
    assert _mismatch("How much does the Observation Lounge cost for a child?", "£8 per adult",
                     []) == "rate"
    assert lacking.because("rate") == \
        "The price found is for someone else than your question asks about."
