"""The build's output folder (issue 9): a fresh folder, checked, swapped in whole; lock; no litter; no-change cache.

Most tests replace the stages that compute (``_build_into``) with a writer of a few small files, so the
orchestration around them (checks of --out, the lock, the staging folder, the swap, cleanup, the input key)
is tested in milliseconds; tests/test_site.py runs the real stages through the same code.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vramatlas.cli import main
from vramatlas.site import build
from vramatlas.site.build import (
    BuildError,
    BuildReport,
    Progress,
    build_lock,
    build_site,
    check_data_package,
    check_site,
)

REPO = Path(__file__).resolve().parent.parent


def _package(tables: Path, names: dict[str, bytes]) -> None:
    resources = []
    for rel, data in names.items():
        (tables / rel).parent.mkdir(parents=True, exist_ok=True)
        (tables / rel).write_bytes(data)
        resources.append(
            {"name": rel, "path": rel, "x_size_bytes": len(data), "x_sha256": hashlib.sha256(data).hexdigest()}
        )
    (tables / "datapackage.json").write_text(json.dumps({"resources": resources}))


def fake_build(version: str, fail_after_tables: BaseException | None = None, page_bytes: int = 100, sleep: float = 0.0):
    """A stand-in for the computing stages: writes tables and a site for ``version`` into the stage."""

    def _build_into(stage, out, catalog_dir, stages, site_src, log, progress):
        tables = stage / "tables"
        tables.mkdir()
        names = {f"t{i}.csv": f"{version},{i}\n".encode() for i in range(5)}
        for i, (rel, data) in enumerate(names.items()):
            (tables / rel).write_bytes(data)
            if sleep and i == 2:
                (stage / "halfway").write_text("x")
                time.sleep(sleep)
        _package(tables, names)
        if fail_after_tables is not None:
            raise fail_after_tables
        site = stage / "site"
        site.mkdir()
        (site / "index.html").write_text(f"<p>{version}</p>" + "x" * page_bytes)
        pages, heaviest, heaviest_bytes, total = check_site(site, tables)
        return BuildReport(
            out=out,
            site=site,
            pages=pages,
            site_bytes=total,
            heaviest_page=heaviest,
            heaviest_bytes=heaviest_bytes,
            seconds=0.0,
            tables=sorted(tables.iterdir()),
            stage_seconds={"fake": 0.0},
        )

    return _build_into


@pytest.fixture
def catalog(tmp_path) -> Path:
    """A small catalogue folder: the input key reads its bytes."""
    root = tmp_path / "catalog"
    for kind in ("gpus", "models", "methods", "measurements"):
        (root / kind).mkdir(parents=True)
    (root / "gpus" / "x.yaml").write_text("id: x\n")
    return root


def first_build(monkeypatch, out: Path, catalog: Path, version: str = "v1", **kw) -> BuildReport:
    monkeypatch.setattr(build, "_build_into", fake_build(version, **kw))
    return build_site(out, catalog_dir=catalog)


def output_state(out: Path) -> dict[str, bytes]:
    """The published output (and the user's files beside it), not the build's own hidden files."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.relative_to(out).parts[0].startswith(".")
    }


def litter(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name not in ("tables", "site", build.LOCK_NAME, build.KEY_NAME))


# ---- a failing or interrupted build leaves the last good output whole -----------------------------


@pytest.mark.parametrize(
    "failure",
    [
        BuildError("mkdocs build --strict failed"),
        KeyboardInterrupt(),
        build.BuildInterrupted("signal 15"),
        MemoryError(),
    ],
)
def test_failing_build_leaves_previous_output_whole_and_no_litter(monkeypatch, tmp_path, catalog, failure):
    out = tmp_path / "out"
    first_build(monkeypatch, out, catalog)
    before = output_state(out)
    monkeypatch.setattr(build, "_build_into", fake_build("v2", fail_after_tables=failure))
    with pytest.raises(type(failure)):
        build_site(out, catalog_dir=catalog, force=True)
    assert output_state(out) == before  # not 3 new and 2 old tables with a package matching neither
    assert litter(out) == []


def test_page_over_the_weight_limit_fails_before_the_swap(monkeypatch, tmp_path, catalog):
    """The 1 MB family name case: the page check runs on the fresh folder, before anything is replaced."""
    out = tmp_path / "out"
    first_build(monkeypatch, out, catalog)
    before = output_state(out)
    monkeypatch.setattr(build, "_build_into", fake_build("v2", page_bytes=build.MAX_PAGE_BYTES + 1))
    with pytest.raises(BuildError, match="weighs"):
        build_site(out, catalog_dir=catalog, force=True)
    assert output_state(out) == before and litter(out) == []


def test_successful_build_replaces_everything_and_drops_stray_files(monkeypatch, tmp_path, catalog):
    out = tmp_path / "out"
    first_build(monkeypatch, out, catalog)
    (out / "tables" / "stray.csv").write_text("not written by the build")
    (out / "site" / "stray.html").write_text("<p>stray</p>")
    (out / "mine.txt").write_text("the user's own file beside the outputs")
    report = first_build(monkeypatch, out, catalog, "v2")
    state = output_state(out)
    assert all(b"v2" in data or name.endswith(("datapackage.json", "mine.txt")) for name, data in state.items())
    assert "tables/stray.csv" not in state and "site/stray.html" not in state and "mine.txt" in state
    assert report.site == out / "site" and all(p.parent == out / "tables" for p in report.tables)
    assert litter(out) == ["mine.txt"]


def _child(out: Path, catalog: Path, sleep: float) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO / "tests")!r})
        from test_build_output import fake_build
        from vramatlas.site import build
        build._build_into = fake_build("v2", sleep={sleep})
        build.build_site({str(out)!r}, catalog_dir={str(catalog)!r}, force=True)
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_halfway(out: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not list(out.glob(f"{build.STAGING_PREFIX}*/halfway")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_sigterm_mid_build_leaves_previous_output_and_no_litter(monkeypatch, tmp_path, catalog):
    out = tmp_path / "out"
    first_build(monkeypatch, out, catalog)
    before = output_state(out)
    proc = _child(out, catalog, sleep=30)
    _wait_halfway(out, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert output_state(out) == before and litter(out) == [], err


def test_killed_build_litter_is_removed_by_the_next_build(monkeypatch, tmp_path, catalog):
    out = tmp_path / "out"
    first_build(monkeypatch, out, catalog)
    before = output_state(out)
    proc = _child(out, catalog, sleep=30)
    _wait_halfway(out, proc)
    proc.kill()  # SIGKILL: nothing can clean up
    proc.communicate(timeout=30)
    (out / ".site-new").mkdir()  # what builds before the staging folder left behind
    assert output_state(out) == before and litter(out) != []
    first_build(monkeypatch, out, catalog, "v3")
    assert litter(out) == []
    assert b"v3" in (out / "site" / "index.html").read_bytes()


# ---- one build at a time ----------------------------------------------------------------------------


def test_second_concurrent_build_into_the_same_folder_is_refused(monkeypatch, tmp_path, catalog):
    out = tmp_path / "out"
    first_build(monkeypatch, out, catalog)
    before = output_state(out)
    with build_lock(out):  # another build holds the lock
        with pytest.raises(BuildError, match=f"pid {os.getpid()}"):
            build_site(out, catalog_dir=catalog, force=True)
        status, err = _cli_build(out, catalog)
        assert status == 2 and "another vramatlas build" in err and err.count("\n") == 1
    assert output_state(out) == before
    first_build(monkeypatch, out, catalog, "v2")  # released: the next build runs


def test_concurrent_build_in_another_process_is_refused(monkeypatch, tmp_path, catalog):
    out = tmp_path / "out"
    first_build(monkeypatch, out, catalog)
    proc = _child(out, catalog, sleep=30)
    try:
        _wait_halfway(out, proc)
        with pytest.raises(BuildError, match="another vramatlas build"):
            first_build(monkeypatch, out, catalog, "v3")
    finally:
        proc.kill()
        proc.communicate(timeout=30)


# ---- --out checked before any work ----------------------------------------------------------------------


class _NoWork:
    def __getattr__(self, name):
        raise AssertionError("the build started working before checking --out")


def _cli_build(out: Path, catalog: Path, *extra: str) -> tuple[int, str]:
    import io
    from contextlib import redirect_stderr, redirect_stdout

    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        status = main(["build", "--out", str(out), "--catalog", str(catalog), *extra])
    return status, err.getvalue()


def test_out_that_is_a_file_is_refused_before_any_work(tmp_path, catalog, monkeypatch):
    target = tmp_path / "file"
    target.write_text("precious")
    monkeypatch.setattr(build, "default_stages", _NoWork)
    status, err = _cli_build(target, catalog)
    assert status == 2 and "is a file" in err and err.count("\n") == 1
    assert target.read_text() == "precious"


def test_out_that_is_not_writable_is_refused_before_any_work(tmp_path, catalog, monkeypatch):
    out = tmp_path / "ro"
    out.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == out else real_access(p, mode))
    monkeypatch.setattr(build, "default_stages", _NoWork)
    status, err = _cli_build(out, catalog)
    assert status == 2 and "not writable" in err and err.count("\n") == 1


def test_out_inside_a_file_is_one_line(tmp_path, catalog, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setattr(build, "default_stages", _NoWork)
    status, err = _cli_build(blocker / "out", catalog)
    assert status == 2 and "cannot create the folder" in err and err.count("\n") == 1


def test_out_that_would_replace_the_site_sources_is_refused(tmp_path):
    sources = tmp_path / "repo" / "site"
    sources.mkdir(parents=True)
    with pytest.raises(BuildError, match="site sources"):
        build.prepare_out(tmp_path / "repo", site_src=sources)


# ---- checks of the fresh output ------------------------------------------------------------------------


def test_data_package_check_finds_strays_and_mismatches(tmp_path):
    tables = tmp_path / "tables"
    tables.mkdir()
    _package(tables, {"a.csv": b"1\n", "m/b.csv.gz": b"2\n"})
    check_data_package(tables)
    (tables / "a.csv").write_bytes(b"3\n")
    with pytest.raises(BuildError, match="sha256"):
        check_data_package(tables)
    _package(tables, {"a.csv": b"1\n"})
    (tables / "extra.parquet").write_bytes(b"PAR1")
    with pytest.raises(BuildError, match="not in datapackage.json"):
        check_data_package(tables)
    (tables / "extra.parquet").unlink()
    (tables / "m" / "b.csv.gz").unlink()
    (tables / "datapackage.json").write_text(json.dumps({"resources": [{"path": "../outside.csv"}]}))
    with pytest.raises(BuildError, match="did not write"):
        check_data_package(tables)


def test_site_check_refuses_a_download_the_build_did_not_write(tmp_path):
    tables, site = tmp_path / "tables", tmp_path / "site"
    tables.mkdir()
    (site / "tables").mkdir(parents=True)
    (site / "index.html").write_text("<p>x</p>")
    _package(tables, {"a.csv": b"1\n"})
    (site / "tables" / "datapackage.json").write_text(json.dumps({"resources": [{"path": "a.csv"}]}))
    (site / "tables" / "a.csv").write_bytes(b"tampered\n")
    with pytest.raises(BuildError, match="not the table the build wrote"):
        check_site(site, tables)


# ---- no-change rebuilds ------------------------------------------------------------------------------------


def test_rebuild_with_nothing_changed_does_nothing_and_any_change_rebuilds(monkeypatch, tmp_path, catalog):
    out = tmp_path / "out"
    first_build(monkeypatch, out, catalog)
    calls = []
    monkeypatch.setattr(build, "_build_into", lambda *a: calls.append(1) or fake_build("v2")(*a))
    start = time.perf_counter()
    report = build_site(out, catalog_dir=catalog)
    assert report.unchanged and calls == [] and time.perf_counter() - start < 5
    assert "unchanged" in "\n".join(report.lines()) and report.pages == 1
    (catalog / "gpus" / "x.yaml").write_text("id: x\nname: changed\n")  # a catalogue byte
    assert not build_site(out, catalog_dir=catalog).unchanged and calls == [1]
    assert build_site(out, catalog_dir=catalog).unchanged
    (out / "site" / "index.html").unlink()  # the output in place is no longer what was built
    assert not build_site(out, catalog_dir=catalog).unchanged and calls == [1, 1]
    assert not build_site(out, catalog_dir=catalog, force=True).unchanged and calls == [1, 1, 1]


def test_input_key_covers_catalogue_code_and_site_sources(tmp_path, catalog):
    site_src = tmp_path / "site"
    (site_src / "docs").mkdir(parents=True)
    (site_src / "docs" / "index.md").write_text("# hi\n")
    key = build.input_key(catalog, site_src)
    assert key == build.input_key(catalog, site_src)
    (site_src / "docs" / "index.md").write_text("# changed\n")
    assert build.input_key(catalog, site_src) != key
    (catalog / "gpus" / "link.yaml").symlink_to(catalog / "gpus" / "x.yaml")
    assert build.input_key(catalog, site_src) is None  # the loader must refuse it: no shortcut


# ---- progress ---------------------------------------------------------------------------------------------------


class _Tty:
    def __init__(self, tty: bool):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, s):
        self.text += s

    def flush(self):
        pass


def test_progress_only_on_a_terminal_and_not_with_quiet():
    assert build.terminal_progress(False, _Tty(True)) is not None
    assert build.terminal_progress(True, _Tty(True)) is None
    assert build.terminal_progress(False, _Tty(False)) is None
    tty = _Tty(True)
    progress = Progress(tty)
    with progress.stage("matrix"):
        pass
    progress.note("matrix", "12 rows")
    assert "matrix" in tty.text and "12 rows" in tty.text


def test_matrix_progress_counts_rows_on_a_terminal_only():
    assert Progress(None).counter("matrix", "rows") is None  # not a terminal, or --quiet: nothing drawn
    tty = _Tty(True)
    progress = Progress(tty)
    show = progress.counter("matrix", "rows")
    show(32768, 100000)
    show(65536, 100000)  # within 0.1 s of the last line: not redrawn
    show(100000, 100000)  # the last one always is
    assert "32,768 / 100,000 rows" in tty.text and "65,536" not in tty.text and "100,000 / 100,000 rows" in tty.text
    with progress.stage("matrix"):
        pass
    progress.note("matrix", "100,000 rows")
    assert "CPU" in tty.text and tty.text.endswith("\n")


def test_summary_gives_each_stage_its_share():
    report = BuildReport(
        out=Path("o"),
        site=Path("o/site"),
        pages=1,
        site_bytes=1,
        heaviest_page="i",
        heaviest_bytes=1,
        seconds=4,
        stage_seconds={"matrix": 3.0, "mkdocs": 1.0},
    )
    line = next(x for x in report.lines() if x.startswith("build time"))
    assert "matrix 3.0s (75%)" in line and "mkdocs 1.0s (25%)" in line


# ---- the deploy waits for validation and tests -----------------------------------------------------------------


def test_pages_deploys_only_after_validation_and_tests_pass():
    import yaml

    workflows = REPO / ".github" / "workflows"
    pages = yaml.safe_load((workflows / "pages.yml").read_text())
    validate = yaml.safe_load((workflows / "validate.yml").read_text())
    jobs = pages["jobs"]
    checks = [name for name, job in jobs.items() if job.get("uses") == "./.github/workflows/validate.yml"]
    assert checks, "pages.yml does not run validate.yml"

    def needs(name):
        value = jobs[name].get("needs", [])
        return {value} if isinstance(value, str) else set(value)

    def upstream(name):
        seen = set()
        stack = list(needs(name))
        while stack:
            job = stack.pop()
            if job not in seen:
                seen.add(job)
                stack.extend(needs(job))
        return seen

    deploying = [
        name
        for name, job in jobs.items()
        if any("deploy-pages" in str(step.get("uses", "")) for step in job.get("steps", []))
    ]
    assert deploying and all(set(checks) <= upstream(name) for name in deploying)
    assert all(
        set(checks) <= upstream(name)
        for name, job in jobs.items()
        if any("upload-pages-artifact" in str(step.get("uses", "")) for step in job.get("steps", []))
    )
    triggers = validate.get("on", validate.get(True))  # YAML 1.1 reads the key `on` as True
    assert "workflow_call" in triggers
    runs = " ".join(str(step.get("run", "")) for step in validate["jobs"]["validate"]["steps"])
    assert "vramatlas validate" in runs and "pytest" in runs
