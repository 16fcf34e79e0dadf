"""Turning files on disk into indexed chunks: extraction, chunking and the indexing pipeline."""

from assistant.ingest.chunking import Chunk, Chunker
from assistant.ingest.extract import ExtractionError, extract, is_supported
from assistant.ingest.indexer import ChunkEncoder, Failure, Indexer, IndexProgress, IndexSummary

__all__ = [
    "Chunk",
    "ChunkEncoder",
    "Chunker",
    "ExtractionError",
    "Failure",
    "IndexProgress",
    "IndexSummary",
    "Indexer",
    "extract",
    "is_supported",
]
