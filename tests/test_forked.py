"""vramatlas.forked: the build's second core (the searches beside the matrix, the tables beside the pages)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from vramatlas.forked import Forked, ForkedError
from vramatlas.site import build


def _square(x: int) -> int:
    return x * x


def _fail() -> None:
    raise ValueError("bad input, line 3")


def reaped(pid: int) -> bool:
    """The process is gone and waited for (not running, not a zombie): it is no child of ours any more."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_the_result_comes_back_and_the_child_is_reaped():
    job = Forked(_square, 12)
    pid = job._pid
    assert job.result() == 144
    assert job.result() == 144  # read once, kept
    assert reaped(pid)
    slow = Forked(time.sleep, 0.5)
    assert not reaped(slow._pid)  # (the check can fail: a running child is not reaped)
    slow.result()


def test_an_exception_in_the_child_is_raised_in_the_parent():
    with pytest.raises(ForkedError, match="ValueError: bad input, line 3"):
        Forked(_fail).result()


def test_without_fork_the_function_runs_here():
    assert Forked(_square, 3, fork=False).result() == 9


def test_a_build_that_fails_while_the_tables_are_written_stops_the_writer(monkeypatch, tmp_path):
    from test_site import small_catalog, small_stages

    from vramatlas import tables
    from vramatlas.site import pages

    pids = []

    def start(*args):
        job = tables.start_write_tables(*args)
        pids.extend([j._pid for j in job._csv._jobs] + [job._files._pid])
        return job

    def fail(*args, **kwargs):
        raise build.BuildError("a page failed")

    stages = small_stages()
    stages.start_write_tables = start
    monkeypatch.setattr(pages, "write_pages", fail)
    out = tmp_path / "out"
    with pytest.raises(build.BuildError, match="a page failed"):
        build.build_site(out, catalog_dir=small_catalog(tmp_path), stages=stages)
    assert len(pids) == 3 and all(pids)
    assert all(reaped(pid) for pid in pids)  # the writer's processes are killed and reaped, none left running
    assert sorted(p.name for p in out.iterdir() if p.name not in (build.LOCK_NAME,)) == []


def test_tables_written_in_other_processes_are_the_bytes_one_process_writes(tmp_path):
    from test_site import small_catalog, small_stages

    catalog = small_catalog(tmp_path)
    written = {}
    for name, start in (("forked", "default"), ("here", None)):
        stages = small_stages()
        if start is None:
            stages.start_write_tables = None  # write_tables in the build's own process
        report = build.build_site(tmp_path / name, catalog_dir=catalog, stages=stages)
        tables = Path(report.out) / "tables"
        written[name] = {p.relative_to(tables).as_posix(): p.read_bytes() for p in tables.rglob("*") if p.is_file()}
    assert written["forked"] == written["here"] and len(written["here"]) > 10
