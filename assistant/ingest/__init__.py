"""Turning files on disk into text: extraction, and later chunking and indexing."""
