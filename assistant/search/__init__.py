"""Search: embedding, the in-memory vector index, keyword + vector retrieval and their fusion."""

from assistant.search.embedding import Embedder, default_model_path
from assistant.search.retrieval import Hit, Retriever, SearchConfig
from assistant.search.vector_index import VectorIndex

__all__ = ["Embedder", "Hit", "Retriever", "SearchConfig", "VectorIndex", "default_model_path"]
