"""Escaping, one function per place a catalogue string can land: a terminal line, HTML, JSON in a page, a URL.

Names are checked by validation (VA354 refuses control characters, U+2028/U+2029 and bidi overrides),
and every output escapes anyway: a string that slipped past, or came from a user's config.json,
still cannot start a new line in CI logs, close a ``<script>``, break a Vega expression or add an
attribute to a link. Standard library only: the estimate path and the templates both use it.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import quote

# C0 and C1 controls, the line and paragraph separators, and the bidi embeddings/overrides/isolates
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str) -> str:
    """``text`` with every control, separator and bidi character written as a backslash escape.

    For terminal and CI output: an id holding a newline must not start a second
    line (which GitHub reads as a workflow command such as ``::add-mask::``),
    nor an escape sequence reach the terminal.
    """

    def escape(m: re.Match) -> str:
        ch = m.group(0)
        code = ord(ch)
        return _NAMED.get(ch) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")

    return _UNSAFE_LINE.sub(escape, str(text))


def html_text(value: Any) -> str:
    """Text for HTML content or a double- or single-quoted attribute value."""
    return html.escape(str(value), quote=True)


def json_for_html(obj: Any) -> str:
    """JSON that is safe inside ``<script>`` (and in a Vega spec): no ``<``, ``>``, ``&``, U+2028 or U+2029.

    Those five are written as ``\\uXXXX`` escapes, which every JSON reader decodes
    back to the same string; NaN and infinity are refused (not JSON).
    """
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def vega_safe(obj: Any) -> Any:
    """``obj`` with every string passed through :func:`one_line`, for Vega specs and the data they read.

    Vega-Lite compiles sort orders, domains and filters into expression strings,
    and Vega's expression parser rejects a raw U+2028/U+2029 (and controls) in a
    string literal; JSON escapes are decoded before that, so they do not help.
    The spec and its data files both go through this, so their values still match.
    """
    if isinstance(obj, str):
        return one_line(obj)
    if isinstance(obj, dict):
        return {vega_safe(k): vega_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [vega_safe(v) for v in obj]
    return obj


def js_literal(value: str) -> str:
    """A string literal for a Vega expression (or JavaScript): ASCII only, so no separator survives raw."""
    return json.dumps(str(value), ensure_ascii=True)


# What may stay as it is in a link target: the URL's structure characters. Everything else, quotes
# ('"' and "'") and parentheses included, is percent-encoded, so the target cannot end a Markdown link,
# open a link title or close an attribute.
_URL_SAFE = ":/?#[]@!$&*+,;=%~-._"


def link_url(url: Any) -> str | None:
    """An http(s) URL percent-encoded completely for a link target, or None if it is not plain http(s)."""
    text = str(url or "").strip()
    if not re.match(r"^https?://[^\s]+$", text, re.IGNORECASE) or _UNSAFE_LINE.search(text):
        return None
    return quote(text, safe=_URL_SAFE).replace("(", "%28").replace(")", "%29")
