"""Answering: prompt building, generation, citations.

The public face of the stage; the CLI, the GUI, training and evaluation import from here.
"""

from assistant.answer.answering import (
    EMPTY_ANSWER_TEXT,
    NOT_FOUND_TEXT,
    SHIPPED,
    Answer,
    CitationSource,
    Grounding,
    answer_question,
)
from assistant.answer.citations import Citation, infer_citations, parse_citations
from assistant.answer.prompt import (
    BASE_STOPS,
    Prompt,
    TextModel,
    Turn,
    build_prompt,
    completion_prompt,
    retrieval_query,
)

__all__ = [
    "BASE_STOPS",
    "EMPTY_ANSWER_TEXT",
    "NOT_FOUND_TEXT",
    "SHIPPED",
    "Answer",
    "Citation",
    "CitationSource",
    "Grounding",
    "Prompt",
    "TextModel",
    "Turn",
    "answer_question",
    "build_prompt",
    "completion_prompt",
    "infer_citations",
    "parse_citations",
    "retrieval_query",
]
