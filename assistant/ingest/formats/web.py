"""HTML: the visible text only, in reading order, with block elements as line breaks.

Parsed by lexbor (selectolax); markup nested deeper than browsers allow is flattened first,
because tree building is quadratic in depth.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.ingest.formats.common import MANY_NEWLINES, Extracted, ExtractionError, Page
from assistant.ingest.formats.text import bom_encoding, decode_text

# HTML nested deeper than this is flattened before parsing (as browsers do at 512): lexbor's
# tree building is quadratic in depth (200,000 nested <div>s took over ten minutes).
MAX_HTML_DEPTH: int = 512

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_INVISIBLE = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object")
_PARAGRAPH_TAGS = frozenset(
    {
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "dl",
        "section", "article", "header", "footer", "aside", "nav", "main", "form", "figure",
        "details", "hr", "address", "fieldset",
    }
)  # fmt: skip
_LINE_TAGS = frozenset(
    {
        "div", "li", "tr", "dt", "dd", "caption", "figcaption", "summary", "legend", "option",
        "center", "dialog", "menu", "hgroup", "tbody", "thead", "tfoot", "body", "html",
    }
)  # fmt: skip
_WS = re.compile(r"\s+")


def _decode_html(data: bytes) -> str:
    """BOM, then the declared <meta charset>, then the generic text guess."""
    if bom_encoding(data) is None:
        m = _META_CHARSET.search(data[:4096])
        if m:
            declared = m.group(1).decode("ascii", errors="ignore").lower()
            if declared in {"iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii"}:
                declared = "cp1252"  # what browsers do (WHATWG Encoding Standard)
            if not declared.startswith(("utf-16", "utf-32")):
                try:
                    return data.decode(declared)
                except (LookupError, UnicodeDecodeError):
                    pass
    return decode_text(data)


class _TextBuilder:
    """Assembles visible text: collapses HTML whitespace, turns blocks into line breaks."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pending = 0  # newlines owed before the next text

    def _ends_with(self, chars: str) -> bool:
        return bool(self.parts) and self.parts[-1].endswith(tuple(chars))

    def text(self, value: str, *, pre: bool) -> None:
        if not pre:
            value = _WS.sub(" ", value)
            if self.pending or not self.parts or self._ends_with(" \n"):
                value = value.lstrip(" ")
        if not value:
            return
        if self.pending and self.parts:
            self.parts[-1] = self.parts[-1].rstrip(" ")
            self.parts.append("\n" * self.pending)
        self.pending = 0
        self.parts.append(value)

    def line_break(self) -> None:
        if self.parts:
            self.parts[-1] = self.parts[-1].rstrip(" ")
        self.text("\n", pre=True)

    def block(self, newlines: int) -> None:
        self.pending = max(self.pending, newlines)

    def result(self) -> str:
        text = "".join(self.parts)
        text = "\n".join(line.rstrip() for line in text.split("\n"))
        return MANY_NEWLINES.sub("\n\n", text).strip()


_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^<>]*?(/?)>")
_VOID_TAGS = frozenset(
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr", "keygen",
    }
)  # fmt: skip
# Closed implicitly by the next one of their kind (or their parent): they never nest deep.
_IMPLIED_END_TAGS = frozenset(
    {
        "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "rb", "rt", "rp",
        "tbody", "thead", "tfoot", "colgroup", "caption",
    }
)  # fmt: skip


def _flatten_deep_html(html: str, limit: int = MAX_HTML_DEPTH) -> tuple[str, bool]:
    """Drop the tags that would nest deeper than `limit` (their text stays); linear time.

    Returns the HTML (the same string when nothing was that deep) and whether it changed.
    The depth is estimated from the tags alone (no parser); it errs on the deep side only
    for odd markup, which then merely loses some of its layout.
    """
    depth = 0
    open_counts: dict[str, int] = {}
    dropped: dict[str, int] = {}
    pieces: list[str] = []
    last = 0
    for match in _TAG.finditer(html):
        name = match.group(2).lower()
        if name in _VOID_TAGS or name in _IMPLIED_END_TAGS or match.group(3):
            continue
        if not match.group(1):  # an opening tag
            if depth >= limit:
                pieces.append(html[last:match.start()])
                last = match.end()
                dropped[name] = dropped.get(name, 0) + 1
                continue
            depth += 1
            open_counts[name] = open_counts.get(name, 0) + 1
        elif dropped.get(name):  # the end of a tag that was dropped
            pieces.append(html[last:match.start()])
            last = match.end()
            dropped[name] -= 1
        elif open_counts.get(name):
            open_counts[name] -= 1
            depth -= 1
    if not pieces:
        return html, False
    pieces.append(html[last:])
    return "".join(pieces), True


def extract_html(data: bytes) -> Extracted:
    from selectolax.lexbor import LexborHTMLParser

    html, flattened = _flatten_deep_html(_decode_html(data))
    notes = [f"nested more than {MAX_HTML_DEPTH} levels deep: the deepest levels were "
             "read as plain text"] if flattened else []
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = _WS.sub(" ", title_node.text()).strip() if title_node is not None else ""
    for selector in (*_INVISIBLE, "[hidden]"):
        for node in tree.css(selector):
            node.decompose()
    if not title:
        h1 = tree.css_first("h1")
        title = _WS.sub(" ", h1.text()).strip() if h1 is not None else ""

    root = tree.body if tree.body is not None else tree.root
    text = _html_visible_text(root) if root is not None else ""
    if not text:
        raise ExtractionError("empty file (no visible text)")
    return Extracted(kind="html", pages=[Page(None, text)], warnings=notes, title=title or None)


def _html_visible_text(root: Any) -> str:
    """Depth-first walk with an explicit stack (deep nesting must not hit recursion limits)."""
    out = _TextBuilder()
    pre_depth = 0
    # Entries: (node, entering). On exit we only close blocks and <pre>.
    stack: list[tuple[Any, bool]] = [(root, True)]
    while stack:
        node, entering = stack.pop()
        if node.is_text_node:
            out.text(node.text_content or "", pre=pre_depth > 0)
            continue
        if not node.is_element_node:
            continue  # comments, doctype
        tag = (node.tag or "").lower()
        if not entering:
            if tag in {"pre", "textarea"}:
                pre_depth -= 1
            if tag in _PARAGRAPH_TAGS:
                out.block(2)
            elif tag in _LINE_TAGS:
                out.block(1)
            continue
        if tag == "br":
            out.line_break()
            continue
        if tag in _PARAGRAPH_TAGS:
            out.block(2)
        elif tag in _LINE_TAGS:
            out.block(1)
        elif tag in {"td", "th"} and not out.pending and out.parts and not out._ends_with("\n"):
            out.text(" | ", pre=True)
        if tag in {"pre", "textarea"}:
            pre_depth += 1
        stack.append((node, False))
        children = list(node.iter(include_text=True))
        stack.extend((child, True) for child in reversed(children))
    return out.result()
