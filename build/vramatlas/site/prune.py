"""Theme files a built site never loads, removed after `mkdocs build` (the site's size budget).

MkDocs Material ships, beside its minified scripts and styles, their source maps (a browser fetches
one only while its developer tools are open) and the search worker's word splitters and stemmers for
30 languages, of which the worker loads only those in the search index's ``config.lang``
(``search.*.min.js``: tinyseg.js for ja, wordcut.js for hi and th, ``min/lunr.<lang>.min.js`` for
each language but en, ``lunr.stemmer.support`` with any of those and ``lunr.multi`` for more than
one). What a page or the worker can load stays.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

THEME_DIRS = ("assets/javascripts", "assets/stylesheets")  # the theme's own files, not the site's
LUNR_DIR = "assets/javascripts/lunr"
# which language needs which of the worker's extra scripts, besides min/lunr.<lang>.min.js
SEGMENTERS = {"ja": "tinyseg.js", "hi": "wordcut.js", "th": "wordcut.js"}
_SOURCE_MAP = re.compile(rb"\n?(?://# sourceMappingURL=[^\n]*|/\*# sourceMappingURL=[^\n]*?\*/)\s*$")


def search_languages(site: Path) -> list[str]:
    """The search worker's languages, as the built index states them (["en"] when it cannot be read)."""
    try:
        lang = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))["config"]["lang"]
    except (OSError, ValueError, KeyError, TypeError):
        return ["en"]
    return [lang] if isinstance(lang, str) else list(lang)


def lunr_files_needed(languages: list[str]) -> set[str]:
    """The files under assets/javascripts/lunr/ the search worker loads for these languages."""
    need = {SEGMENTERS[lang] for lang in languages if lang in SEGMENTERS}
    need |= {f"min/lunr.{lang}.min.js" for lang in languages if lang != "en"}
    if len(languages) > 1:
        need.add("min/lunr.multi.min.js")
    if need:
        need.add("min/lunr.stemmer.support.min.js")
    return need


def prune_theme(site: Path) -> int:
    """Remove the source maps (and the comments naming them) and the unused search languages from a
    built site; return the bytes removed."""
    site = Path(site)
    removed = 0
    for folder in THEME_DIRS:
        for path in sorted((site / folder).rglob("*")):
            if path.suffix == ".map" and path.is_file():
                removed += path.stat().st_size
                path.unlink()
            elif path.suffix in (".js", ".css") and path.is_file():
                data = path.read_bytes()
                cut = _SOURCE_MAP.sub(b"\n", data)
                if cut != data:
                    path.write_bytes(cut)
                    removed += len(data) - len(cut)
    lunr = site / LUNR_DIR
    need = lunr_files_needed(search_languages(site))
    for path in sorted(lunr.rglob("*")) if lunr.is_dir() else []:
        if path.is_file() and path.relative_to(lunr).as_posix() not in need:
            removed += path.stat().st_size
            path.unlink()
    for path in sorted(lunr.rglob("*"), reverse=True) if lunr.is_dir() else []:
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    if lunr.is_dir() and not any(lunr.iterdir()):
        lunr.rmdir()
    return removed
