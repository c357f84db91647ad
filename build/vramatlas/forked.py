"""Run a function in a forked process and take its result back: the build's way to use a second core.

``Forked(fn, *args)`` forks; the child runs ``fn(*args)`` on its copy-on-write view of the parent's memory
(the matrix is not copied or serialised to get there), pickles the result down a pipe and exits without
running the parent's cleanup. ``result()`` reads it and reaps the child (so its CPU time shows in
``os.times().children_*``); an exception in the child is raised again here. ``cancel()`` kills it (a build
that fails meanwhile). Without ``os.fork`` (or with ``fork=False``) ``fn`` runs at once, in this process:
the results are the same either way.
"""

from __future__ import annotations

import os
import pickle
import signal
from typing import Any, Callable


class ForkedError(RuntimeError):
    """The child failed; the message is its exception, in one line."""


class Forked:
    def __init__(self, fn: Callable[..., Any], *args: Any, fork: bool = True):
        self._pid: int | None = None
        self._fd: int | None = None
        self._done = False
        self._value: Any = None
        if not (fork and hasattr(os, "fork")):
            self._value, self._done = fn(*args), True
            return
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the parent's code
            status = 1
            try:
                os.close(read)
                try:
                    payload = pickle.dumps((True, fn(*args)), protocol=pickle.HIGHEST_PROTOCOL)
                    status = 0
                except BaseException as exc:  # sent to the parent, which raises it
                    payload = pickle.dumps((False, f"{type(exc).__name__}: {exc}"))
                with os.fdopen(write, "wb") as pipe:
                    pipe.write(payload)
            finally:
                os._exit(status)
        os.close(write)
        self._pid, self._fd = pid, read

    def result(self) -> Any:
        if not self._done:
            with os.fdopen(self._fd, "rb") as pipe:
                self._fd = None
                data = pipe.read()
            _, status = os.waitpid(self._pid, 0)
            self._pid = None
            try:
                ok, value = pickle.loads(data)
            except Exception:
                ok, value = False, f"the child exited with status {status} and no result"
            if not ok:
                raise ForkedError(value)
            self._value, self._done = value, True
        return self._value

    def cancel(self) -> None:
        if self._pid is not None:
            try:
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
            except OSError:
                pass
            self._pid = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
