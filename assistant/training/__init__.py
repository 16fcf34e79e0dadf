"""Fine-tuning inside the app: a LoRA adapter trained on the user's own examples (Qt-free).

* `data`: load/check/scrub/split examples (JSONL or the user's rated conversations);
* `pii`: e-mail, phone, IBAN and card number scrubbing;
* `train`: the resumable, cancellable training loop (`TrainConfig`, `train`);
* `export`: the adapter as a llama.cpp GGUF LoRA, and the training report;
* `parity`: transformers+peft vs llama.cpp+GGUF adapter, logit by logit;
* `evaluate`: before/after on the validation split, with and without sources.

Importing this package (or `data`/`pii`) does not import torch; the heavy modules import it
when they run.
"""
