"""Read one catalogue YAML file, safely, keeping where every value sits.

``load_document(path)`` never raises: whatever the bytes are, it returns a
:class:`Document` whose ``problems`` list says what is wrong, each problem
located (1-based line and column) with a code, a message and a hint.

What is refused, and why:

* symbolic links and anything that is not a regular file (a FIFO, a device):
  a link could make the catalogue read a file outside it, and a FIFO would
  block the reader forever; they are refused before anything is opened;
* files over :data:`MAX_BYTES` (checked before reading them whole);
* bytes that are not UTF-8, and binary files (a NUL byte);
* YAML syntax errors (tab indentation gets its own hint);
* anchors, aliases and merge keys (``&a``, ``*a``, ``<<``): they make a file
  hard to read and allow "billion laughs" bombs;
* duplicate keys (PyYAML silently keeps the last one);
* tags other than the plain JSON-like ones (``!!binary``, ``!!set``, ``!foo``),
  and keys that are not strings;
* an empty file, several documents in one file, or a top level that is not a
  mapping.

The data comes back as plain JSON-like Python values (dict, list, str, int,
float, bool, None). Timestamps are *not* converted: ``date: 2024-07-15`` reads
as the string ``"2024-07-15"``.

Parsing is event-driven (libyaml's C parser when available) and iterative, so
deep nesting cannot exhaust the recursion limit and aliases are refused before
anything is expanded.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import ScalarNode

from .escape import one_line

MAX_BYTES = 1024 * 1024  # 1 MiB: the largest catalogue file is a few tens of KiB
MAX_DEPTH = 64

try:  # libyaml is ~10x faster; fall back to the pure-Python parser
    from yaml import CSafeLoader as _Parser
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Parser  # type: ignore[assignment]

Path_ = tuple  # a location path: keys (str) and list indices (int)

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file, located 1-based (line 0 = the whole file)."""

    path: Path
    line: int
    col: int
    code: str
    message: str
    hint: str = ""
    severity: str = "error"  # "error" | "warning"

    def format(self, display_path: str | None = None) -> str:
        """One line, whatever the path and message hold (see :func:`one_line`)."""
        where = display_path if display_path is not None else str(self.path)
        text = f"{where}:{self.line}:{self.col}: {self.severity} {self.code}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return one_line(text)


# The brief's name for problems found while loading.
LoadProblem = Problem


@dataclass
class Document:
    """One loaded file: its data, where each value and key sits, and its problems."""

    path: Path
    data: Any = None
    raw: bytes = b""
    # path tuple -> (line, col) of the value; () is the top-level mapping
    locations: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    # path tuple -> (line, col) of the key that introduces the value
    key_locations: dict[tuple, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file loaded into a mapping (warnings and non-fatal errors aside)."""
        return isinstance(self.data, dict)

    def locate(self, path: tuple = (), key: bool = False) -> tuple[int, int]:
        """(line, col) of ``path`` (of its key with ``key=True``), else of the nearest ancestor."""
        path = tuple(path)
        while True:
            if key and path in self.key_locations:
                return self.key_locations[path]
            if path in self.locations:
                return self.locations[path]
            if not path:
                return (1, 1)
            path = path[:-1]

    def problem(
        self, path: tuple, code: str, message: str, hint: str = "", severity: str = "error", key: bool = False
    ) -> Problem:
        line, col = self.locate(path, key=key)
        return Problem(self.path, line, col, code, message, hint, severity)


class _Refused(Exception):
    def __init__(self, line: int, col: int, code: str, message: str, hint: str = ""):
        super().__init__(message)
        self.line, self.col, self.code, self.message, self.hint = line, col, code, message, hint


class _Loader(_Parser):
    """The parser plus SafeLoader's resolver and scalar constructors, no timestamps."""


# Dates stay strings: drop the implicit timestamp resolver from our subclass only.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP]
    for first, resolvers in _Parser.yaml_implicit_resolvers.items()
}


def _mark(event) -> tuple[int, int]:
    m = event.start_mark
    return (m.line + 1, m.column + 1)


def _scalar(loader: _Loader, event) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(ScalarNode, event.value, event.implicit)
    node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    if tag == _STR or tag == _TIMESTAMP:
        return event.value
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return loader.construct_yaml_bool(node)
    if tag == _INT:
        return loader.construct_yaml_int(node)
    if tag == _FLOAT:
        return loader.construct_yaml_float(node)
    if tag == _MERGE:
        raise _Refused(*_mark(event), "VA005", "merge keys ('<<') are not allowed", "write the keys out in full")
    raise _Refused(
        *_mark(event), "VA007", f"unsupported YAML tag {tag!r}", "use plain strings, numbers, booleans and null"
    )


class _Frame:
    __slots__ = ("container", "path", "pending_key", "is_map")

    def __init__(self, container, path, is_map):
        self.container = container
        self.path = path
        self.pending_key = _NOKEY
        self.is_map = is_map


_NOKEY = object()


def _build(loader: _Loader, doc: Document) -> None:
    """Consume the event stream, building data and locations; refuse what we don't accept."""
    stack: list[_Frame] = []
    root: Any = _NOKEY
    n_docs = 0

    def attach(value, line_col, is_collection: bool) -> tuple | None:
        """Put a finished value (or a new collection) into its parent; return its path."""
        nonlocal root
        if not stack:
            root = value
            doc.locations[()] = line_col
            return ()
        top = stack[-1]
        if top.is_map:
            if top.pending_key is _NOKEY:  # this value is a key
                if is_collection:
                    raise _Refused(
                        *line_col,
                        "VA007",
                        "mapping keys must be plain strings",
                        "complex keys ('? [a, b]') are not supported",
                    )
                key = value
                if not isinstance(key, str):
                    doc.problems.append(
                        Problem(
                            doc.path,
                            *line_col,
                            "VA007",
                            f"key {key!r} is not a string",
                            f"quote it: '{key}'" if key is not None else "write a name before the colon",
                        )
                    )
                    key = "null" if key is None else str(key).lower() if isinstance(key, bool) else str(key)
                path = top.path + (key,)
                if key in top.container:
                    first = doc.key_locations.get(path, (0, 0))
                    doc.problems.append(
                        Problem(
                            doc.path,
                            *line_col,
                            "VA004",
                            f"duplicate key '{key}'",
                            f"first defined at line {first[0]}; YAML keeps only one of them, so remove one",
                        )
                    )
                    # keep the first value; the duplicate is read into a throw-away slot
                    top.pending_key = ("\0dup", key)
                else:
                    doc.key_locations[path] = line_col
                    top.pending_key = key
                return None
            key = top.pending_key
            top.pending_key = _NOKEY
            if isinstance(key, tuple):  # duplicate: discard
                return top.path + (key[1], "\0dup")
            top.container[key] = value
            path = top.path + (key,)
        else:
            path = top.path + (len(top.container),)
            top.container.append(value)
        doc.locations.setdefault(path, line_col)
        return path

    while loader.check_event():
        event = loader.get_event()
        kind = type(event).__name__
        if kind in ("StreamStartEvent", "StreamEndEvent", "DocumentEndEvent"):
            continue
        if kind == "DocumentStartEvent":
            n_docs += 1
            if n_docs > 1:
                raise _Refused(
                    *_mark(event),
                    "VA006",
                    "more than one YAML document in the file",
                    "one entity per file: remove the second '---' and what follows",
                )
            continue
        if kind == "AliasEvent":
            raise _Refused(
                *_mark(event),
                "VA005",
                f"alias '*{event.anchor}' is not allowed",
                "anchors and aliases are refused: write the value out in full",
            )
        if getattr(event, "anchor", None):
            raise _Refused(
                *_mark(event),
                "VA005",
                f"anchor '&{event.anchor}' is not allowed",
                "anchors and aliases are refused: write the value out in full",
            )
        if kind == "ScalarEvent":
            attach(_scalar(loader, event), _mark(event), False)
        elif kind in ("MappingStartEvent", "SequenceStartEvent"):
            if event.tag not in (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
                raise _Refused(
                    *_mark(event), "VA007", f"unsupported YAML tag {event.tag!r}", "use plain mappings and lists"
                )
            if len(stack) >= MAX_DEPTH:
                raise _Refused(
                    *_mark(event),
                    "VA001",
                    f"nesting deeper than {MAX_DEPTH} levels",
                    "catalogue files are a few levels deep",
                )
            is_map = kind == "MappingStartEvent"
            container: Any = {} if is_map else []
            path = attach(container, _mark(event), True)
            stack.append(_Frame(container, path, is_map))
        elif kind in ("MappingEndEvent", "SequenceEndEvent"):
            stack.pop()
    if n_docs == 0 or root is _NOKEY:
        raise _Refused(1, 1, "VA006", "the file is empty", "a catalogue file is a YAML mapping: 'id: ...' and so on")
    doc.data = root


def _position_to_line_col(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    line = before.count("\n") + 1
    col = position - (before.rfind("\n") + 1) + 1
    return line, col


def _yaml_error(doc: Document, text: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if isinstance(exc, yaml.reader.ReaderError):
        line, col = _position_to_line_col(text, exc.position)
        ch = exc.character
        code_point = ch if isinstance(ch, int) else ord(ch[:1] or "\0")
        return Problem(
            doc.path,
            line,
            col,
            "VA003",
            f"character U+{code_point:04X} is not allowed in YAML",
            "remove control characters; save the file as plain UTF-8 text",
        )
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    hint = "check the indentation and the quoting around this point"
    lines = text.splitlines()
    if mark is not None and 0 <= mark.line < len(lines):
        src = lines[mark.line]
        if "\t" in src[: mark.column + 1] or (mark.column < len(src) and src[mark.column] == "\t"):
            hint = "YAML indentation must use spaces, not tabs"
    if "\t" in text and hint.startswith("check") and "tab" in str(exc).lower():
        hint = "YAML indentation must use spaces, not tabs"
    return Problem(doc.path, line, col, "VA001", message.replace("\n", " "), hint)


def load_text(text: str, path: Path | str = "<string>", raw: bytes | None = None) -> Document:
    """Parse YAML text (already decoded). Never raises."""
    doc = Document(Path(path), raw=raw if raw is not None else b"")
    try:
        loader = _Loader(text)
        try:
            _build(loader, doc)
        finally:
            loader.dispose()
    except _Refused as r:
        doc.data = None
        doc.problems.append(Problem(doc.path, r.line, r.col, r.code, r.message, r.hint))
    except yaml.YAMLError as exc:
        doc.data = None
        doc.problems.append(_yaml_error(doc, text, exc))
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
        doc.data = None
        doc.problems.append(
            Problem(doc.path, 1, 1, "VA001", f"cannot parse the file: {type(exc).__name__}", "simplify the file")
        )
    except Exception as exc:  # noqa: BLE001 - the loader promises never to raise
        doc.data = None
        doc.problems.append(
            Problem(
                doc.path,
                1,
                1,
                "VA001",
                f"cannot parse the file: {type(exc).__name__}: {exc}".splitlines()[0],
                "simplify the file",
            )
        )
    if doc.data is not None and not isinstance(doc.data, dict):
        kind = "a list" if isinstance(doc.data, list) else f"a single value ({_short(doc.data)})"
        doc.problems.append(
            Problem(
                doc.path,
                *doc.locate(()),
                "VA006",
                f"the top level is {kind}, not a mapping",
                "a catalogue file is a YAML mapping: 'id: ...' and so on",
            )
        )
        doc.data = None
    if doc.data is not None:
        _check_floats(doc)
    return doc


def _check_floats(doc: Document) -> None:
    """NaN and infinity are not data; refuse them where they sit."""
    stack = [((), doc.data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((path + (k,), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((path + (i,), v) for i, v in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            doc.problems.append(
                doc.problem(
                    path,
                    "VA007",
                    f"{value} is not a number the catalogue accepts",
                    "write a finite number, or null for unknown",
                )
            )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def decode(raw: bytes, path: Path) -> tuple[str | None, Problem | None]:
    """UTF-8 text of ``raw`` (a BOM is tolerated), or a located VA003 problem."""
    for bom, name in (
        (b"\xff\xfe\x00\x00", "UTF-32"),
        (b"\x00\x00\xfe\xff", "UTF-32"),
        (b"\xff\xfe", "UTF-16"),
        (b"\xfe\xff", "UTF-16"),
    ):
        if raw.startswith(bom):
            return None, Problem(
                path,
                1,
                1,
                "VA003",
                f"the file is {name}-encoded, not UTF-8",
                "save the file as UTF-8 (without a byte-order mark)",
            )
    nul = raw.find(b"\0")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        return None, Problem(
            path,
            line,
            nul - (raw.rfind(b"\n", 0, nul) + 1) + 1,
            "VA003",
            "the file is binary (it contains a NUL byte)",
            "catalogue files are UTF-8 YAML text",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, Problem(
            path,
            line,
            col,
            "VA003",
            f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            "save the file as UTF-8",
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, None


def _not_a_plain_file(mode: int) -> tuple[str, str] | None:
    """(message, hint) when ``mode`` is not a regular file's, else None."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return (
            "the file is a symbolic link: catalogue files must be regular files",
            "a link could make the catalogue read a file outside it; copy the file in instead",
        )
    what = (
        "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a folder"
        if stat.S_ISDIR(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )
    return f"this is {what}, not a regular file", "catalogue entries are plain UTF-8 YAML files"


def load_document(path: Path | str, max_bytes: int = MAX_BYTES) -> Document:
    """Read and parse one file. Never raises; problems are in ``Document.problems``."""
    path = Path(path)
    doc = Document(path)
    try:
        info = path.lstat()
        refused = _not_a_plain_file(info.st_mode)
        if refused:
            doc.problems.append(Problem(path, 1, 1, "VA008", refused[0], refused[1]))
            return doc
        size = info.st_size
        if size > max_bytes:
            doc.problems.append(
                Problem(
                    path,
                    1,
                    1,
                    "VA002",
                    f"the file is {size:,} bytes, over the {max_bytes:,}-byte limit",
                    "a catalogue file describes one entity; split it or remove bulk data",
                )
            )
            return doc
        # O_NOFOLLOW and O_NONBLOCK: a file swapped for a link or a FIFO after the lstat is not followed
        # or waited on; the fstat then re-checks what was opened
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            refused = _not_a_plain_file(os.fstat(fh.fileno()).st_mode)
            if refused:
                doc.problems.append(Problem(path, 1, 1, "VA008", refused[0], refused[1]))
                return doc
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        doc.problems.append(
            Problem(
                path,
                0,
                0,
                "VA001",
                f"cannot read the file: {exc.strerror or exc}",
                "check that it exists and is readable",
            )
        )
        return doc
    if len(raw) > max_bytes:  # grew between stat and read
        doc.problems.append(
            Problem(
                path, 1, 1, "VA002", f"the file is over the {max_bytes:,}-byte limit", "split it or remove bulk data"
            )
        )
        return doc
    text, problem = decode(raw, path)
    if problem is not None:
        doc.raw = raw
        doc.problems.append(problem)
        return doc
    loaded = load_text(text, path, raw)
    return loaded


def load_bytes(raw: bytes, path: Path | str = "<bytes>", max_bytes: int = MAX_BYTES) -> Document:
    """Like :func:`load_document` for bytes already in memory."""
    path = Path(path)
    if len(raw) > max_bytes:
        doc = Document(path, raw=b"")
        doc.problems.append(
            Problem(
                path,
                1,
                1,
                "VA002",
                f"the file is {len(raw):,} bytes, over the {max_bytes:,}-byte limit",
                "split it or remove bulk data",
            )
        )
        return doc
    text, problem = decode(raw, path)
    if problem is not None:
        doc = Document(path, raw=raw)
        doc.problems.append(problem)
        return doc
    return load_text(text, path, raw)
