"""One module per family of file formats; `assistant.ingest.extract` picks the right one.

Each family keeps its own library, limits and failure sentences, so adding a format touches
one module and the extension table, never the others.
"""
