"""`assistant mcp` end to end, through the MCP SDK's own stdio client.

The server is the real command (`python -m assistant mcp`) over a library indexed from
tests/data; one session lists the tools and calls each, reads a cited passage as a resource,
and tries the refusals. The one answer asked for is short.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

pytestmark = pytest.mark.slow

QUESTION = "How long is the guarantee on the Zephyr X200 kettle?"


@pytest.fixture(scope="module")
def home(tmp_path_factory, data_dir, default_gguf, embedder) -> Path:
    from assistant.ingest.indexer import Indexer
    from assistant.store.store import Store

    home = tmp_path_factory.mktemp("mcphome")
    docs = tmp_path_factory.mktemp("mcpdocs") / "docs"
    shutil.copytree(data_dir / "docs", docs)
    (home / "settings.json").write_text(json.dumps({"model_path": str(default_gguf),
                                                    "threads": 1}))
    (home / "data").mkdir()
    with Store(home / "data" / "store.sqlite3") as store:
        Indexer(store, embedder).index([str(docs)], "default")
    return home


def structured(result) -> dict:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


async def session_run(home: Path, errlog) -> dict:
    """Everything the tests check, from one real stdio session."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "assistant", "mcp"],
                                   env=dict(os.environ, ASSISTANT_HOME=str(home)))
    seen: dict = {}
    async with stdio_client(params, errlog=errlog) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        seen["tools"] = {t.name: t for t in (await session.list_tools()).tools}
        seen["collections"] = structured(await session.call_tool("list_collections", {}))
        seen["search"] = structured(await session.call_tool(
            "search", {"query": "Zephyr kettle guarantee", "collection": "default", "k": 3}))
        seen["ask"] = structured(await session.call_tool("ask", {"question": QUESTION}))
        uri = seen["ask"]["citations"][0]["uri"]
        seen["resource"] = json.loads((await session.read_resource(uri)).contents[0].text)
        seen["bad_collection"] = await session.call_tool(
            "search", {"query": "kettle", "collection": "nonesuch"})
        seen["empty"] = await session.call_tool("ask", {"question": "  "})
        traversal = []
        for bad in ("passage://../../../etc/passwd", "passage://%2e%2e%2fetc%2fpasswd",
                    "file:///etc/passwd", "passage://99999999"):
            try:
                got = await session.read_resource(bad)
                traversal.append(("read", json.dumps(got.model_dump())))
            except Exception as exc:  # the SDK raises the server's error
                traversal.append(("refused", str(exc)))
        seen["traversal"] = traversal
    return seen


@pytest.fixture(scope="module")
def seen(home, tmp_path_factory) -> dict:
    log = tmp_path_factory.mktemp("mcplog") / "stderr.txt"
    with log.open("w") as errlog:
        result = asyncio.run(asyncio.wait_for(session_run(home, errlog), 600))
    result["stderr"] = log.read_text()
    return result


def test_the_tools_are_listed_with_their_arguments(seen):
    tools = seen["tools"]
    assert set(tools) >= {"search", "ask", "list_collections"}
    assert set(tools["search"].input_schema["properties"]) == {"query", "collection", "k"}
    assert set(tools["ask"].input_schema["properties"]) == {"question", "collection"}


def test_list_collections(seen):
    listed = seen["collections"]["collections"]
    assert [c["name"] for c in listed] == ["default"] and listed[0]["documents"] >= 5


def test_search_gives_passages_with_their_places(seen):
    hits = seen["search"]["hits"]
    assert 0 < len(hits) <= 3
    assert hits[0]["path"].endswith("handbook.pdf") and hits[0]["page"] == 2
    assert all(h["uri"] == f"passage://{h['id']}" for h in hits)


def test_ask_answers_with_citations_and_the_passage_is_a_resource(seen):
    answer = seen["ask"]
    assert "27" in answer["answer"] and answer["grounding"] in ("answered", "quoted")
    cited = answer["citations"][0]
    assert cited["path"].endswith("handbook.pdf") and cited["page"] == 2
    assert seen["resource"]["text"] == cited["text"]
    assert seen["resource"]["path"] == cited["path"]


def test_mistakes_come_back_as_sentences(seen):
    for result in (seen["bad_collection"], seen["empty"]):
        assert result.is_error
        text = result.content[0].text
        assert "Traceback" not in text
    assert "nonesuch" in seen["bad_collection"].content[0].text
    assert "Traceback" not in seen["stderr"], seen["stderr"]


def test_no_resource_outside_the_library_is_read(seen):
    for outcome, text in seen["traversal"]:
        assert outcome == "refused", text
        assert "root:" not in text and "Traceback" not in text

