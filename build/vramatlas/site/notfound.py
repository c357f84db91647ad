"""The 404 page with paths relative to the site root.

MkDocs writes 404.html with absolute paths taken from ``site_url`` (``/vramatlas/assets/...``),
so served anywhere else (``vramatlas serve`` at ``/``, a fork's Pages, a folder) it loses its
styles and links. Here they become relative, and a one-line script puts a ``<base>`` at the
site's root before anything loads: where the address starts with the published path, that path,
otherwise ``/``. A host serves 404.html for missing pages at any depth; the base makes the
relative paths resolve from the root at every depth.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit


def relative_404(site_dir: Path, site_url: str | None) -> bool:
    """Rewrite ``site_dir/404.html``; return whether there was one to rewrite."""
    page = Path(site_dir) / "404.html"
    if not page.is_file():
        return False
    prefix = urlsplit(site_url or "/").path or "/"
    if not prefix.endswith("/"):
        prefix += "/"
    text = page.read_text(encoding="utf-8")
    # href="/vramatlas/assets/x.css" -> href="assets/x.css"; href="/vramatlas/." -> href="."
    text = re.sub(r'((?:href|src|action)=")' + re.escape(prefix), r"\1", text)
    text = text.replace('href="."', 'href="./"')
    # the theme's own settings (its search worker, its base) name the published path too: they get
    # the root found at run time, just before the theme's script reads them
    text = text.replace(f'"base": "{prefix}"', '"base": "."').replace(f'"search": "{prefix}', '"search": "')
    head = (
        "<script>(function(){var p=" + json.dumps(prefix) + ",b=document.createElement('base');"
        "b.href=location.pathname.indexOf(p)===0?p:'/';window.__vaRoot=b.href;"
        "document.head.appendChild(b);})();</script>"
    )
    text = re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + head, text, count=1)
    fix = (
        "<script>(function(){var c=document.getElementById('__config');if(!c)return;"
        "var j=JSON.parse(c.textContent),r=new URL(window.__vaRoot||'/',location.href).pathname;"
        "j.base=r;if(j.search&&j.search.charAt(0)!=='/')j.search=r+j.search;c.textContent=JSON.stringify(j);})();"
        "</script>"
    )
    text = re.sub(r'(<script src="[^"]*bundle\.[^"]*\.js"></script>)', lambda m: fix + m.group(1), text, count=1)
    page.write_text(text, encoding="utf-8")
    return True
