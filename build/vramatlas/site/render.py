"""The pages' words live in Jinja2 templates (``templates/*.md.j2``); the code only computes their data.

Safe by default: every ``{{ value }}`` is escaped as Markdown text (:func:`vramatlas.site.pages.esc`)
unless it is :class:`MD`, Markdown that a data function assembled from escaped parts (tables, links,
chart blocks). In an HTML attribute or a raw HTML block, write ``{{ value|attr }}``. A template that
names a value the data does not hold fails the build (StrictUndefined), so a typo is not a blank.

A contributor changes a page's words in its template without touching Python.
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path
from typing import Any

import markupsafe

TEMPLATES = Path(__file__).with_name("templates")


class MD(str):
    """Markdown (or HTML) that is already safe: assembled from escaped parts."""


def _finalize(value: Any) -> str:
    from .pages import esc

    if value is None:
        return ""
    if isinstance(value, (MD, markupsafe.Markup)):  # Markup: a macro's output passed through |safe
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(value)
    return esc(value)


def _attr(value: Any) -> MD:
    return MD(html.escape(str(value if value is not None else ""), quote=True))


@lru_cache(maxsize=1)
def environment():
    import jinja2

    from . import pages

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=False,  # Markdown, not HTML: _finalize escapes for Markdown instead
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        attr=_attr,
        gib=lambda n, digits=1: MD(pages.gib(n, digits)),
        gib_text=lambda n, digits=1: MD(pages.gib_text(n, digits)),
        k=lambda n: MD(pages.k(n)),
        pct=lambda x, signed=False: MD(pages.pct(x, signed)),
        params=lambda n: MD(pages.params_text(n)),
        num=lambda n: MD(f"{int(n):,}"),
    )
    env.globals.update(table=lambda headers, rows, align=None: MD(pages.md_table(headers, rows, align)))
    return env


def render(template: str, **data: Any) -> str:
    """The template ``templates/<template>`` filled with ``data``."""
    return environment().get_template(template).render(**data)
