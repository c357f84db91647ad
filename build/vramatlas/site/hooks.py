"""MkDocs hooks (``hooks:`` in the generated mkdocs.yml): the site's weight, with nothing on a page lost.

- Long data tables stay out of the search index. A GPU page's table of 107 models by 9 methods, or a
  model page's table of 86 GPUs, is a grid of numbers ("32k", "6k", "2.4"): in the search index it is
  megabytes that every page's search worker downloads and indexes, and it finds nothing a reader types.
  MkDocs Material's search plugin leaves out an element that carries ``data-search-exclude``; every
  table longer than SEARCH_ROWS rows gets it. The page is still found by its title, headings and prose.
- Those long tables skip Python-Markdown: ``on_page_markdown`` takes them out of the page's Markdown and
  renders them itself (long_tables.py: the part of Markdown their cells use, with MkDocs' own link
  resolution), ``on_post_page`` puts them back into the finished page. Same HTML, a third of the
  MkDocs stage's time.
- Each page's whitespace between tags is cut to one line break. The theme's templates indent every
  line of the navigation, the header and the tables (a tenth of the HTML); a browser shows a run of
  spaces and line breaks as one space, so a single line break shows the same. ``pre``, ``code``,
  ``kbd``, ``textarea``, ``script`` and ``style`` (where whitespace is kept or matters) are left as
  they are.
"""

from __future__ import annotations

import re

from vramatlas.site.long_tables import SEARCH_ROWS, put_back, take_long_tables

_TAKEN: dict[str, list[str]] = {}  # a page's long tables, by its source path, from its Markdown to its HTML
_TABLE = re.compile(r"<table\b([^>]*)>(.*?)</table>", re.S)
_KEPT = re.compile(r"(<(pre|code|kbd|textarea|script|style)\b.*?</\2\s*>)", re.S | re.I)
_RUN = re.compile(r"[ \t\r\f\v]*\n\s*")  # a run of whitespace with a line break in it


def exclude_long_tables(html: str, rows: int = SEARCH_ROWS) -> str:
    """``html`` with ``data-search-exclude`` on each table of more than ``rows`` body rows."""

    def mark(m: re.Match) -> str:
        attrs, body = m.group(1), m.group(2)
        if "data-search-exclude" in attrs or body.count("<tr") - 1 <= rows:  # - 1: the header row
            return m.group(0)
        return f"<table data-search-exclude{attrs}>{body}</table>"

    return _TABLE.sub(mark, html)


def collapse_whitespace(html: str) -> str:
    """Every run of whitespace holding a line break becomes one line break, outside the kept elements."""
    parts = _KEPT.split(html)  # [text, kept element, its tag name, text, ...]
    return "".join(_RUN.sub("\n", part) if i % 3 == 0 else part for i, part in enumerate(parts) if i % 3 != 2)


def link_resolver(page, config, files):
    """The page's link targets as MkDocs resolves them in Markdown (``gpus/a.md`` to ``../../gpus/a/``),
    with its strict-mode warning for a target that is no page. A GPU page links to the calculator
    thousands of times with different queries: each target is resolved once, its query and fragment
    kept as they are (as MkDocs does)."""
    from mkdocs.structure.pages import _RelativePathTreeprocessor

    resolve = _RelativePathTreeprocessor(page.file, files, config).path_to_url
    resolved: dict[str, str] = {}

    def url(link: str) -> str:
        cut = min((i for i in (link.find("?"), link.find("#")) if i >= 0), default=len(link))
        target = link[:cut]
        if target not in resolved:
            resolved[target] = resolve(target) if target else ""
        return resolved[target] + link[cut:]

    return url


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    markdown, tables = take_long_tables(markdown, link_resolver(page, config, files))
    if tables:
        _TAKEN[page.file.src_uri] = tables
    return markdown


def on_page_content(html: str, **kwargs) -> str:
    return exclude_long_tables(html)


def on_post_page(output: str, page, **kwargs) -> str:
    tables = _TAKEN.pop(page.file.src_uri, None)
    return collapse_whitespace(put_back(output, tables) if tables else output)
