"""The model for commands that answer (ask, chat, eval qa), loaded the way the app loads it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from assistant.cli.output import ProgressBar


def make_generator(args: argparse.Namespace, settings: Any) -> Any:
    """The model the command line answers with: as the app would load it, options applied.

    `--answer-server` (else the setting) answers with an inference server instead;
    `--model` (else the setting, else the embedded default, assembled once with progress);
    the adapter per `assistant.llm.grounded.choose_adapter` (`--lora ""` turns it off).
    """
    from assistant.llm.generator import Generator
    from assistant.llm.grounded import choose_adapter
    from assistant.llm.models import ensure_default_model
    from assistant.llm.remote import server_from_settings

    if not args.model:
        remote = server_from_settings(settings, getattr(args, "answer_server", None))
        if remote is not None:
            return remote

    model = args.model or settings["model_path"]
    if not model:
        bar = ProgressBar()
        model = ensure_default_model(
            progress=lambda done, total: bar.update(done >> 20, total >> 20,
                                                    "MB · preparing the default model"))
        bar.close()
    generator = Generator(Path(model), n_ctx=settings["context_size"],
                          n_threads=settings["threads"])
    lora, _why = choose_adapter(settings, generator.info, override=args.lora)
    if lora is not None:
        scale = args.lora_scale if args.lora_scale is not None else settings["lora_scale"]
        generator.set_adapter(lora, scale)
    return generator
