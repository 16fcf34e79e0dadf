"""Finding the cited span and re-finding passages in another rendering of the text."""

from __future__ import annotations

from assistant.gui.passages import cited_span, citing_text, link_citations, locate


def test_cited_span_picks_the_sentence_the_answer_relies_on() -> None:
    passage = ("Brightwater Appliances guarantees the kettle. The warranty period of the Zephyr "
               "X200 is 27 months from the date of purchase. Keep your receipt.")
    answer = "The guarantee lasts 27 months [1]. Keep the box [2]."
    reference = citing_text(answer, 1)
    assert "27 months" in reference and "box" not in reference
    span = cited_span(passage, reference)
    assert span is not None
    assert passage[span[0]:span[1]].startswith("The warranty period")
    assert passage[span[0]:span[1]].endswith("purchase.")
    assert cited_span(passage, "") is None
    assert cited_span(passage, "zebra giraffe") is None


def test_locate_ignores_whitespace_hyphenation_and_case() -> None:
    pdf_text = "2. Warranty\r\nThe warranty period of the Zeph-\r\nyr X200 is 27 months\r\nfrom now."
    passage = "The warranty period of the Zephyr X200 is 27 months from now."
    start, end = locate(passage, pdf_text)
    assert pdf_text[start:end].startswith("The warranty")
    assert pdf_text[start:end].endswith("now")
    assert locate("completely different words here", pdf_text) is None


def test_locate_falls_back_to_head_and_tail() -> None:
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron"
    passage = "gamma delta epsilon zeta XX eta theta iota kappa lambda mu"  # an extra token
    found = locate(passage, text, anchor=20)
    assert found is not None
    assert text[found[0]:found[1]].startswith("gamma") and text[found[0]:found[1]].endswith("mu")


def test_link_citations() -> None:
    out = link_citations("See [1] and [2, 3], not [9].", {1, 2, 3})
    assert "[\\[1\\]](cite:1)" in out and "[\\[2\\]](cite:2)[\\[3\\]](cite:3)" in out
    assert "[9]" in out and "cite:9" not in out
