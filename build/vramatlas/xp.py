"""The few array operations the memory model uses, on numpy arrays or on plain Python numbers.

``memory.py`` calls these as ``np.where(...)``, ``np.maximum(...)`` and so on.
Each operation looks at its inputs: when every input is a plain Python scalar
(``float``, ``int``, ``bool``, ``str``, ``None``) it computes with Python's own
floats, the same IEEE-754 doubles numpy uses, so one case costs no numpy (nor
pandas) import; otherwise it hands the call to numpy, imported on first use.
One case (``vramatlas estimate``, the browser calculator under Pyodide) and the
matrix (millions of rows) thus run the same formulas, and give the same bytes:
``tests/test_xp.py`` checks it on every catalogue case.

What the scalar side follows from numpy, so the two agree to the bit:
``maximum``/``minimum`` propagate NaN, ``argmax`` returns the first largest,
``to_int`` rounds half to even (``numpy.rint``). What it cannot follow: a
division by zero raises in Python where numpy gives inf or NaN, so a term must
never divide by something that can be 0 (guard the divisor, e.g.
``x / np.where(n > 0, n, 1.0)``), and ``~`` on a Python bool is an integer
(write ``np.logical_not``).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

_SCALARS = frozenset((float, int, bool, str, type(None)))  # checked with type(), so numpy scalars go to numpy
nan = math.nan
_numpy = None


def _np():
    global _numpy
    if _numpy is None:
        import numpy

        _numpy = numpy
    return _numpy


def is_scalar(*values: Any) -> bool:
    """True when every value is a plain Python scalar (the no-numpy path)."""
    for v in values:  # a loop, not all(<generator>): this runs for every operation of one estimate
        if type(v) not in _SCALARS:
            return False
    return True


def _promote(result: Any, a: Any, b: Any) -> Any:
    """numpy's result type for numbers: float as soon as one input is a float."""
    if (type(result) is int or type(result) is bool) and (type(a) is float or type(b) is float):
        return float(result)
    return result


def asarray(x: Any, dtype: Any = None) -> Any:
    """``float`` as dtype: a float column (or float); ``object``/None: the values as they are."""
    if type(x) in _SCALARS:
        return float(x) if dtype is float else x
    return _np().asarray(x, dtype=dtype)


def where(cond: Any, a: Any, b: Any) -> Any:
    if type(cond) in _SCALARS and type(a) in _SCALARS and type(b) in _SCALARS:
        return _promote(a if cond else b, a, b)
    return _np().where(cond, a, b)


def maximum(a: Any, b: Any) -> Any:
    if is_scalar(a, b):
        if a != a or b != b:  # NaN wins, as in numpy
            return nan
        return _promote(a if a >= b else b, a, b)
    return _np().maximum(a, b)


def minimum(a: Any, b: Any) -> Any:
    if is_scalar(a, b):
        if a != a or b != b:
            return nan
        return _promote(a if a <= b else b, a, b)
    return _np().minimum(a, b)


def isnan(x: Any) -> Any:
    if is_scalar(x):
        return math.isnan(x)
    return _np().isnan(x)


def any_equal(x: Any, value: float) -> bool:
    """Whether any element equals value (a scalar: whether it does)."""
    if is_scalar(x):
        return x == value
    return bool((_np().asarray(x) == value).any())


def floor(x: Any) -> Any:
    """Largest whole number not above x, as a float (numpy.floor); NaN stays NaN."""
    if is_scalar(x):
        return x if x != x or x in (math.inf, -math.inf) else float(math.floor(x))
    return _np().floor(x)


def logical_not(x: Any) -> Any:
    if is_scalar(x):
        return not x
    return _np().logical_not(x)


def ones_like(x: Any) -> Any:
    return 1.0 if is_scalar(x) else _np().ones_like(x)


def zeros_like(x: Any) -> Any:
    return 0.0 if is_scalar(x) else _np().zeros_like(x)


def argmax(options: Sequence[Any]) -> Any:
    """Index of the first largest of a few columns, row by row (numpy: argmax over a vstack)."""
    if is_scalar(*options):
        best = 0
        for i, value in enumerate(options):
            if value != value:  # numpy's argmax stops at the first NaN
                return i
            if value > options[best]:
                best = i
        return best
    np = _np()
    return np.argmax(np.vstack(np.broadcast_arrays(*options)), axis=0)


def choose(index: Any, options: Sequence[Any]) -> Any:
    """Row by row, the option ``index`` points at."""
    if is_scalar(index, *options):
        return options[index]
    return _np().choose(index, options)


def take(labels: Sequence[Any], index: Any) -> Any:
    """``labels[index]`` for an index or a column of indices."""
    if is_scalar(index):
        return labels[index]
    return _np().asarray(labels)[index]


def to_int(x: Any) -> Any:
    """Round half to even to whole bytes: a Python int for a scalar, int64 for a column."""
    if is_scalar(x):
        return round(x)
    np = _np()
    return np.rint(x).astype(np.int64)


ndarray = Any  # for annotations: a numpy array, or one Python float
