"""`assistant mcp`: the library as an MCP server over stdio (the official `mcp` SDK).

Tools: `search(query, collection, k)`, `ask(question, collection)` (an answer with its
citations) and `list_collections()`. Every indexed passage is a resource,
`passage://<id>`, read from the store (never from the disk); `search` and `ask` give each
passage's URI. A failure the user can act on comes back as the tool's error text; anything
else only as the SDK's generic "Error executing tool" (the traceback stays in the log).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer

from assistant.errors import UserError
from assistant.server.library import Busy, Library, State, Target

PASSAGE_URI = "passage://{chunk_id}"


def passage_uri(chunk_id: int) -> str:
    return f"passage://{chunk_id}"


def build_mcp(library: Library) -> MCPServer[Any]:
    from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError

    server: MCPServer[Any] = MCPServer(
        "knowledge-assistant",
        instructions="Search the user's own indexed documents and answer from them with "
                     "citations (file, page, passage). Use list_collections to see the "
                     "collections; leave collection empty to use all of them.")

    async def run(job: Callable[[State], Any], *, lane: str = "search") -> Any:
        chosen = library.model_lane if lane == "model" else library.search_lane
        try:
            future, slot = chosen.submit(job)
        except Busy as busy:
            raise ToolError(f"The library is busy; try again in {busy.retry_after} s.") \
                from None
        try:
            return await asyncio.wrap_future(future)
        except UserError as exc:
            raise ToolError(str(exc)) from None
        finally:
            slot.release()

    @server.tool(description="Find passages in the user's documents (no generation). "
                             "Returns the passages best first, each with file, page, "
                             "character offsets, text and a passage:// resource URI.")
    async def search(query: str, collection: str | None = None, k: int = 5) -> dict[str, Any]:
        if not query.strip():
            raise ToolError("Give a query to search for.")
        k = max(1, min(int(k), 50))

        def job(state: State) -> dict[str, Any]:
            result = library.search(state, query, k, collection)
            for hit in result["hits"]:
                hit["uri"] = passage_uri(hit["id"])
            return result

        out: dict[str, Any] = await run(job)
        return out

    @server.tool(description="Answer a question from the user's documents. The answer "
                             "carries [n] markers; 'citations' gives each cited passage "
                             "(file, page, offsets, text, passage:// URI); 'grounding' says "
                             "whether it was answered, quoted or not found.")
    async def ask(question: str, collection: str | None = None) -> dict[str, Any]:
        if not question.strip():
            raise ToolError("Give a question.")

        def job(state: State) -> dict[str, Any]:
            if collection and collection not in state["store"].collections():
                raise UserError(f"There is no collection '{collection}'.")
            target = Target(False, [collection] if collection else None)
            answer = library.answer(state, question, target=target)
            out: dict[str, Any] = answer.to_json()
            out["citations"] = [dict(c.to_json(), uri=passage_uri(c.hit.chunk_id))
                                for c in answer.citations]
            return out

        result: dict[str, Any] = await run(job, lane="model")
        return result

    @server.tool(description="List the collections of the user's library, with their "
                             "number of documents.")
    async def list_collections() -> dict[str, Any]:
        found: list[dict[str, Any]] = await run(Library.collections)
        return {"collections": found}

    @server.resource(PASSAGE_URI, name="passage", mime_type="application/json",
                     description="One indexed passage: its file, page, offsets and text.")
    async def passage(chunk_id: str) -> str:
        import json

        if not chunk_id.isdigit():
            raise ResourceNotFoundError("There is no such passage.")
        found = await run(lambda s: library.passage(s, int(chunk_id)))
        if found is None:
            raise ResourceNotFoundError("There is no such passage.")
        return json.dumps(found, ensure_ascii=False)

    return server


def serve_mcp(library: Library | None = None) -> int:
    """Serve over this process's stdin and stdout until the client closes them."""
    import logging
    import sys

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    library = library or Library()  # lazily: stdout is the wire until the SDK claims it
    try:
        build_mcp(library).run("stdio")
    finally:
        library.close()
    return 0
