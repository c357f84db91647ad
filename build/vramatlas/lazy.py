"""Import a heavy module (numpy, pandas) on first use, so `vramatlas CMD --help` stays fast.

    np = lazy("numpy")   # at module level; np.where(...) imports numpy the first time

Annotations such as ``pd.DataFrame`` cost nothing under ``from __future__ import annotations``.
"""

from __future__ import annotations

import importlib
from typing import Any


class lazy:  # noqa: N801 - used like a module
    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
