"""Did-you-mean: the known ids closest to a mistyped one (standard library only)."""

from __future__ import annotations

import difflib
from typing import Iterable


def closest(wanted: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` known ids near ``wanted``: close spellings first, then ids that contain it."""
    ids = sorted(set(known))
    key = wanted.strip().lower()
    near = difflib.get_close_matches(key, ids, n=n, cutoff=0.6)
    if len(near) < n:
        near += [i for i in ids if key and key in i and i not in near][: n - len(near)]
    return near[:n]
