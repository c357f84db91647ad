"""Long Markdown tables turned into HTML without Python-Markdown, for the build's speed.

A GPU page holds a table of every model by nine methods, a model page one of every GPU: 9.8 MB of the
site's 14.9 MB of Markdown is tables of more than SEARCH_ROWS rows. Python-Markdown's inline
processor and then the search plugin's HTML parser spent most of the MkDocs stage on them (17 s of
Markdown for all pages, 2.5 s once they are taken out). Their cells are the small part of Markdown the
page writers use (escaped text, links, ``**strong**``, code spans, ``<span>`` tags), so the hooks
(hooks.py) take each such table out of a page's Markdown before MkDocs renders it, leave an HTML
comment in its place, and put the table's HTML back into the finished page:

- ``take_long_tables`` finds the tables, renders them with ``table_html`` and returns the Markdown with
  a placeholder for each;
- links go through the resolver the hook passes in: MkDocs' own, so a link to a page that does not
  exist is the same strict-mode error as before, and ``gpus/a.md`` becomes ``../../gpus/a/`` exactly
  as MkDocs writes it;
- ``put_back`` puts the tables into the page's HTML, after the search plugin has read the page (these
  tables carry ``data-search-exclude`` and were never in the index).

The output is Python-Markdown's own for these cells: tests/test_long_tables.py renders every long table
of the site both ways and compares them. A table with a cell outside that part of Markdown (emphasis
with ``*``, a reference link, a tag other than ``<span>``: a contributor's page may hold one) stays in
Markdown, as does every table of a page that defines abbreviations (which change any word in a table):
slower, never rendered differently.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator

SEARCH_ROWS = 30  # about a screen of rows: a longer table is a data grid, not text to search
PLACEHOLDER = "<!-- vramatlas-long-table {} -->"
_PLACEHOLDER = re.compile(r"<!-- vramatlas-long-table (\d+) -->")

_FENCE = re.compile(r"^(`{3,}|~{3,})")
_DELIMITER_CELL = re.compile(r"^\s*(:?)-+(:?)\s*$")
_ABBREVIATION = re.compile(r"^\*\[[^\]]+\]:", re.M)
_ALIGN = {(True, False): "left", (False, True): "right", (True, True): "center", (False, False): None}

# One inline token at a time; the first alternative that matches at the position wins. The escapes are
# Python-Markdown's ESCAPED_CHARS with the tables extension's "|"; another backslash stays as it is.
_TOKEN = re.compile(
    r"""\\(?P<escaped>[\\`*_{}\[\]()>\#+\-.!|])
    |(?P<backslash>\\)
    |`(?P<code>[^`]+)`
    |\*\*(?P<strong>\S(?:.*?\S)?)\*\*
    |\[(?P<text>(?:\\.|[^\\\[\]])*)\]\((?P<url>[^()\s<>"\\]*)\)
    |(?P<tag></?span(?:\s[^<>]*)?>)
    |(?P<entity>&(?:\#[0-9]+|\#x[0-9a-fA-F]+|[0-9A-Za-z]+);)
    |(?P<plain>[^\\`*_{}\[\]!<>&]+)
    |(?P<intraword>(?<=[0-9A-Za-z])_+(?=[0-9A-Za-z]))
    |(?P<char>[&>\]])
    |(?P<bang>!(?!\[))""",
    re.X,
)
_ATTRIBUTE_AMP = re.compile(r"&(?!(?:#[0-9]+|#x[0-9a-f]+|[0-9a-z]+);)", re.I)


class UnsupportedCell(ValueError):
    """A table cell uses Markdown that ``inline_html`` does not render."""


def attribute(value: str) -> str:
    """An attribute value as Python-Markdown's serializer writes it (an entity already there is kept)."""
    value = _ATTRIBUTE_AMP.sub("&amp;", value)
    return value.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("\n", "&#10;")


_MARKUP = re.compile(r"[\\`*_{}\[\]!<>&]")  # a cell without any of these is its own HTML


def inline_html(cell: str, url: Callable[[str], str]) -> str:
    """One table cell's Markdown as HTML; ``url`` maps a link target as written to the href."""
    if not _MARKUP.search(cell):
        return cell
    out, pos = [], 0
    while pos < len(cell):
        m = _TOKEN.match(cell, pos)
        if m is None:
            raise UnsupportedCell(
                f"table cell {cell!r}: {cell[pos : pos + 20]!r} is Markdown this renderer does not know"
            )
        kind, value = m.lastgroup, m.group(m.lastgroup)
        if kind == "escaped":
            out.append(html.escape(value, quote=False))
        elif kind == "code":
            out.append(f"<code>{html.escape(value.strip(), quote=False)}</code>")
        elif kind == "strong":
            out.append(f"<strong>{inline_html(value, url)}</strong>")
        elif kind == "url":
            out.append(f'<a href="{attribute(url(value))}">{inline_html(m.group("text"), url)}</a>')
        elif kind in ("tag", "entity"):
            out.append(value)
        else:  # plain text, a lone "&", ">" or "]", a "!" that starts no image, a backslash that escapes nothing,
            # "_" inside a word (it neither opens nor closes emphasis)
            out.append(html.escape(value, quote=False))
        pos = m.end()
    return "".join(out)


_ROW_PART = re.compile(r"(\\.|`[^`]*`|\|)")  # an escape, a code span, a cell boundary


def split_row(line: str) -> list[str]:
    """A table row's cells: split at each "|" that no backslash escapes and no code span holds."""
    cells, current = [], []
    for part in _ROW_PART.split(line):
        if part == "|":
            cells.append("".join(current))
            current = []
        else:
            current.append(part)
    cells.append("".join(current))
    if line.lstrip().startswith("|"):
        cells = cells[1:]
    if line.rstrip().endswith("|") and not line.rstrip().endswith("\\|"):
        cells = cells[:-1]
    return [c.strip() for c in cells]


def table_html(lines: list[str], url: Callable[[str], str]) -> str:
    """A pipe table (header, delimiter row, body rows) as the tables extension writes it, with
    ``use_align_attribute`` and the ``data-search-exclude`` hooks.py gives a long table."""
    header = split_row(lines[0])
    aligns = []
    for cell in split_row(lines[1]):
        m = _DELIMITER_CELL.match(cell)
        aligns.append(_ALIGN[bool(m.group(1)), bool(m.group(2))])

    def row(cells: list[str], tag: str) -> str:
        cells = (cells + [""] * len(aligns))[: len(aligns)]
        out = ["<tr>"]
        for cell, align in zip(cells, aligns):
            attrs = f' align="{align}"' if align else ""
            out.append(f"<{tag}{attrs}>{inline_html(cell, url)}</{tag}>")
        out.append("</tr>")
        return "\n".join(out)

    body = "\n".join(row(split_row(line), "td") for line in lines[2:])
    return f"<table data-search-exclude>\n<thead>\n{row(header, 'th')}\n</thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def table_spans(lines: list[str]) -> Iterator[tuple[int, int]]:
    """(start, stop) of each pipe table outside fenced code that is a block of its own, as
    Python-Markdown reads one: after a blank line (or the start), a header row, a delimiter row with as
    many cells, rows, then a blank line (or the end). A table glued to text is left to Markdown."""
    fence, i = None, 0
    while i < len(lines):
        line = lines[i]
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line[m.end() :].strip():
                fence = None
        elif m:
            fence = m.group(1)
        elif (
            line.startswith("|")
            and (i == 0 or not lines[i - 1].strip())
            and i + 1 < len(lines)
            and _is_delimiter(lines[i + 1], len(split_row(line)))
        ):
            stop = i + 2
            while stop < len(lines) and lines[stop].startswith("|"):
                stop += 1
            if stop == len(lines) or not lines[stop].strip():
                yield i, stop
            i = stop
            continue
        i += 1


def _is_delimiter(line: str, columns: int) -> bool:
    if not line.startswith("|"):
        return False
    cells = split_row(line)
    return len(cells) == columns and all(_DELIMITER_CELL.match(c) for c in cells)


def take_long_tables(markdown: str, url: Callable[[str], str], rows: int = SEARCH_ROWS) -> tuple[str, list[str]]:
    """``markdown`` with each table of more than ``rows`` body rows replaced by a placeholder, and the
    tables' HTML in placeholder order."""
    if _ABBREVIATION.search(markdown):
        return markdown, []
    lines = markdown.split("\n")
    spans = [(a, b) for a, b in table_spans(lines) if b - a - 2 > rows]
    if not spans:
        return markdown, []
    tables, out, last = [], [], 0
    for a, b in spans:
        try:
            rendered = table_html(lines[a:b], url)
        except UnsupportedCell:  # Python-Markdown renders this one
            continue
        out += lines[last:a] + ["", PLACEHOLDER.format(len(tables)), ""]
        tables.append(rendered)
        last = b
    return "\n".join(out + lines[last:]), tables


def put_back(page_html: str, tables: list[str]) -> str:
    """The page with each placeholder replaced by its table; every table must find its place once."""
    found = []

    def table(m: re.Match) -> str:
        found.append(int(m.group(1)))
        return tables[int(m.group(1))]

    out = _PLACEHOLDER.sub(table, page_html)
    if sorted(found) != list(range(len(tables))):
        raise ValueError(
            f"{len(tables)} long tables taken out of the page, {len(found)} placeholders found in its HTML"
        )
    return out
