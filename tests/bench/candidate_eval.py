"""`assistant eval qa` with a candidate answer-or-refuse decision, before it is shipped.

A new adapter or reader comes with a decision refitted on its recorded answers
(calibrate_strictness.py). This runs the app's own answer path with that candidate: the
decision's weights and balanced threshold given here instead of the shipped ones, and the
adapter given under the shipped adapter's file name (the decision applies only to that
adapter: `answerability.calibrated_for`), and the reader read from the folder given. With `--balanced 1.01` the decision refuses
nothing on its own, and tests/bench/rethreshold.py reads the report at every threshold.

Usage:
    .venv/bin/python tests/bench/candidate_eval.py --adapter NEW.gguf \
        --weights=-0.19,0.24,-0.29,-0.62,-0.30,-0.54,-0.15 --balanced 1.01 \
        -- tests/data/qa/plain_heldout.jsonl --out build/ev_plain --json

Everything after `--` goes to `assistant eval qa` unchanged (its --strictness stays
balanced, the level changed here).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _weights(text: str) -> tuple[float, ...]:
    return tuple(float(w) for w in text.split(","))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--adapter", help="the candidate adapter (default: the shipped one)")
    parser.add_argument("--reader", metavar="DIR", help="the candidate reader's folder "
                        "(train-reader's --out; default: the shipped one)")
    parser.add_argument("--weights", type=_weights, help="WEIGHTS (with the reader), "
                        "comma-separated: intercept first, as calibrate_strictness prints them")
    parser.add_argument("--weights-without-reader", type=_weights, dest="without_reader")
    parser.add_argument("--balanced", type=float, help="balanced's refuse_at (1.01: never)")
    parser.add_argument("--balanced-without-reader", type=float, dest="balanced_without")
    args = parser.parse_args(own)

    from assistant.answer import answerability
    from assistant.answer import reader as reader_module
    from assistant.cli.main import main as assistant_main
    from assistant.llm.grounded import ADAPTER_NAME

    for option, name, given in (("--weights", "WEIGHTS", args.weights),
                                ("--weights-without-reader", "WEIGHTS_WITHOUT_READER",
                                 args.without_reader)):
        if given is not None:
            if len(given) != len(getattr(answerability, name)):
                parser.error(f"{option} needs {len(getattr(answerability, name))} numbers")
            setattr(answerability, name, given)
    if args.reader:  # the app loads its reader from shipped_dir(), once
        folder = Path(args.reader).resolve()
        reader_module.shipped_dir = lambda: folder
    level = answerability.STRICTNESS["balanced"]
    answerability.STRICTNESS["balanced"] = dataclasses.replace(
        level, refuse_at=level.refuse_at if args.balanced is None else args.balanced,
        refuse_at_without_reader=(level.refuse_at_without_reader if args.balanced_without is None
                                  else args.balanced_without))
    with tempfile.TemporaryDirectory() as tmp:
        command = ["eval", "qa", *rest, "--strictness", "balanced"]
        if args.adapter:
            named = Path(tmp) / ADAPTER_NAME  # the name the decision is calibrated for
            shutil.copyfile(args.adapter, named)
            command += ["--lora", str(named)]
        print(f"decision: weights {answerability.WEIGHTS}, balanced at "
              f"{answerability.STRICTNESS['balanced'].refuse_at}; adapter "
              f"{args.adapter or 'shipped'}; reader {args.reader or 'shipped'}",
              file=sys.stderr)
        return assistant_main(command)


if __name__ == "__main__":
    raise SystemExit(main())
