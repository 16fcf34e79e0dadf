"""Examples as the training loop feeds them: token ids with response-only labels, padded
batches, and the loss on response tokens alone.

Kept apart from the loop (`train.py`) because the benchmark and the adapter's evaluation
use the same encoding: what is measured is what is trained.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistant.training.data import Example

if TYPE_CHECKING:
    import torch

IGNORE_INDEX = -100
# Tokens of prompt kept when an example is longer than max_length (after BOS).
MIN_PROMPT_TOKENS = 16


# ---------------------------------------------------------------------------- tokenization

@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX on prompt tokens
    truncated: bool


def encode_example(tokenize: Callable[[str], list[int]], bos: int, eos: int, example: Example,
                   max_length: int, *, with_sources: bool = True) -> Encoded:
    """Token ids and labels: [BOS] prompt response [EOS], loss only on response and EOS.

    Prompt and response are tokenized separately (as at generation time, when the model
    continues the prompt). Too long: the start of the prompt is cut (keeping BOS and at least
    a few prompt tokens), then, if still needed, the end of the response.
    """
    prompt_ids = tokenize(example.render_prompt(with_sources=with_sources))
    response_ids = [*tokenize(example.render_response()), eos]
    truncated = False
    budget = max_length - 1  # BOS
    if len(prompt_ids) + len(response_ids) > budget:
        truncated = True
        keep_prompt = min(len(prompt_ids), MIN_PROMPT_TOKENS)
        response_ids = response_ids[:budget - keep_prompt]
        keep_prompt = budget - len(response_ids)
        prompt_ids = prompt_ids[len(prompt_ids) - keep_prompt:] if keep_prompt else []
    ids = [bos, *prompt_ids, *response_ids]
    labels = [IGNORE_INDEX] * (1 + len(prompt_ids)) + response_ids
    return Encoded(ids, labels, truncated)


def hf_tokenize(tokenizer: Any) -> Callable[[str], list[int]]:
    def tokenize(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return tokenize


def collate(batch: Sequence[Encoded], pad_id: int, device: str) -> dict[str, torch.Tensor]:
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return {"input_ids": ids.to(device), "labels": labels.to(device),
            "attention_mask": mask.to(device)}


# ---------------------------------------------------------------------------- loss

def _causal_lm_parts(model: Any) -> tuple[Any, Any, float | None]:
    """(decoder, lm_head, final softcap) of a causal LM, peft-wrapped or not."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else base.model
    softcap = getattr(base.config, "final_logit_softcapping", None)
    return decoder, base.get_output_embeddings(), softcap


def response_loss(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """(sum of response-token NLL, number of response tokens) for one batch.

    Logits are computed only where a label is set: the 262k-entry vocabulary projection of
    prompt positions would cost more than the transformer layers themselves.
    """
    import torch
    import torch.nn.functional as F

    decoder, lm_head, softcap = _causal_lm_parts(model)
    hidden = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     use_cache=False).last_hidden_state
    targets = batch["labels"][:, 1:]
    select = targets != IGNORE_INDEX
    n = int(select.sum().item())
    if n == 0:
        return hidden.sum() * 0.0, 0
    logits = lm_head(hidden[:, :-1][select])
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    loss = F.cross_entropy(logits.float(), targets[select], reduction="sum")
    return loss, n


def evaluate_loss(model: Any, encoded: Sequence[Encoded], *, batch_size: int, pad_id: int,
                  device: str) -> float | None:
    """Mean response-token NLL over `encoded` (None when empty); leaves the model in eval."""
    import torch

    if not encoded:
        return None
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(encoded), batch_size):
            loss, n = response_loss(model, collate(encoded[i:i + batch_size], pad_id, device))
            total += float(loss.item())
            count += n
    return total / count if count else None
