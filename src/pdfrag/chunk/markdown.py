"""Blocks read from the text itself, for pages that come without them.

Extractors that know the layout give each page its blocks (headings with
their paths, tables as Markdown at their reading position). A page without
blocks still has structure in its text when it is Markdown, or wikitext:
ATX headings (``# Title``), wikitext headings (``= = Section = =``) and pipe
tables (``| a | b |``). ``text_blocks`` finds them so that the structure
chunker and every chunk's heading path work the same on both kinds of pages.
Headings inside fenced code blocks are code, not headings.
"""

from __future__ import annotations

import re

from pdfrag.types import Block

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def heading_of(line: str) -> tuple[int, str] | None:
    """``(level, title)`` when the line is an ATX or wikitext heading."""
    m = _ATX.match(line)
    if m and m.group(2).strip():
        return len(m.group(1)), m.group(2).strip()
    return _wiki_heading(line)


def _wiki_heading(line: str) -> tuple[int, str] | None:
    s = line.strip()
    if len(s) < 5 or s[0] != "=" or s[-1] != "=":
        return None
    lead = re.match(r"^(=[ \t]?)+", s)
    trail = re.search(r"([ \t]?=)+$", s)
    if lead is None or trail is None:
        return None
    n_lead, n_trail = lead.group(0).count("="), trail.group(0).count("=")
    title = s[lead.end() : trail.start()].strip()
    if n_lead != n_trail or n_lead > 6 or not title or "=" in title[:1] + title[-1:]:
        return None
    return n_lead, title


def is_table_line(line: str) -> bool:
    s = line.strip()
    return len(s) >= 2 and s.startswith("|")


def is_separator_row(line: str) -> bool:
    return bool(_TABLE_SEP.match(line)) and "-" in line


def _lines(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every line, without its newline."""
    out, pos = [], 0
    n = len(text)
    while pos <= n:
        nl = text.find("\n", pos)
        end = n if nl == -1 else nl
        out.append((pos, end))
        if nl == -1:
            break
        pos = nl + 1
    return out


def text_blocks(text: str, path: tuple[str, ...] = (), levels: tuple[int, ...] = ()) -> tuple[list[Block], tuple[str, ...], tuple[int, ...]]:
    """Blocks of a page's text: headings, pipe tables, and paragraphs between
    them. ``path``/``levels`` are the headings open when the page starts; the
    ones open at its end are returned with the blocks."""
    blocks: list[Block] = []
    stack = list(zip(levels, path, strict=True))
    para: list[int] = []  # start, end of the open paragraph
    table: list[int] = []
    in_fence = False

    def cur_path() -> tuple[str, ...]:
        return tuple(t for _, t in stack)

    def close_para() -> None:
        if para:
            blocks.append(Block(para[0], para[1], "text", cur_path()))
            para.clear()

    def close_table() -> None:
        if not table:
            return
        a, b, rows = table
        if rows >= 2:
            blocks.append(Block(a, b, "table", cur_path()))
        else:  # one pipe line is not a table
            if para:
                para[1] = b
            else:
                para.extend([a, b])
        table.clear()

    for a, b in _lines(text):
        line = text[a:b]
        if _FENCE.match(line):
            in_fence = not in_fence
        if not in_fence and is_table_line(line):
            if table:
                table[1] = b
                table[2] += 1
            else:
                close_para()
                table.extend([a, b, 1])
            continue
        close_table()
        if not line.strip():
            if not in_fence:
                close_para()
            continue
        h = None if in_fence else heading_of(line)
        if h is not None:
            close_para()
            level, title = h
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, title))
            blocks.append(Block(a, b, "heading", cur_path(), level=level))
            continue
        if para:
            para[1] = b
        else:
            para.extend([a, b])
    close_table()
    close_para()
    return blocks, cur_path(), tuple(lv for lv, _ in stack)
