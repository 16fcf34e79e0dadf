"""`assistant eval`: the product's own evaluation, one subcommand per kind of data."""

from __future__ import annotations

from typing import Any

from assistant.cli.eval_qa import add_qa_parser
from assistant.cli.eval_retrieval import add_retrieval_parser


def add_eval_commands(sub: Any) -> None:
    """Register `eval` and its subcommands (qa; retrieval is added beside it)."""
    p = sub.add_parser("eval", help="measure answers (qa) or search (retrieval) on data")
    eval_sub = p.add_subparsers(dest="eval_command", metavar="KIND", required=True)
    add_qa_parser(eval_sub)
    add_retrieval_parser(eval_sub)
