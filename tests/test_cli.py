"""The `vramatlas` command line: run for real (python -m vramatlas), never a traceback."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vramatlas import cli

FIXTURES = Path(__file__).parent / "fixtures"
SCHEMA = FIXTURES / "schema"
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning) (?P<code>VA\d{3}): .+$")


def vramatlas(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vramatlas", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr


@pytest.fixture
def broken(tmp_path) -> Path:
    """A fixture catalogue with two problems: an id that is not the file name, a duplicate key."""
    root = tmp_path / "catalog"
    shutil.copytree(FIXTURES / "base", root)
    method = root / "methods" / "inference-bf16.yaml"
    method.write_text(method.read_text().replace("id: inference-bf16", "id: inference-fp16"))
    gpu = root / "gpus" / "rtx-4090.yaml"
    gpu.write_text(gpu.read_text() + "name: again\n")
    return root


def test_help_is_fast_and_lists_every_command():
    start = time.perf_counter()
    result = vramatlas("--help")
    assert result.returncode == 0
    assert time.perf_counter() - start < 5
    for name in cli.SUBCOMMANDS:
        assert name in result.stdout
    assert vramatlas("--version").stdout.startswith("vramatlas ")


def test_import_is_light():
    code = "import sys, vramatlas.cli; print([m for m in ('pandas', 'altair', 'jsonschema') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
    assert out == "[]"


def test_no_command_and_unknown_command_exit_2():
    for args in ([], ["frobnicate"], ["validate", "--no-such-option"]):
        result = vramatlas(*args)
        assert result.returncode == 2, args
        no_traceback(result)


def test_validate_clean_exits_0_with_summary(tmp_path):
    root = tmp_path / "catalog"
    shutil.copytree(FIXTURES / "base", root)
    result = vramatlas("validate", "--schema-dir", str(SCHEMA), str(root))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert re.fullmatch(r"vramatlas validate: 8 files, 0 errors, 0 warnings in \d+\.\d\d s\n", result.stderr)


def test_validate_reports_every_problem_relative_to_cwd(broken):
    result = vramatlas("validate", "--schema-dir", str(SCHEMA), "catalog", cwd=broken.parent)
    assert result.returncode == 1
    no_traceback(result)
    lines = result.stdout.splitlines()
    assert all(LINE.match(line) for line in lines), lines
    assert (
        "catalog/gpus/rtx-4090.yaml:17:1: error VA004: duplicate key 'name' "
        "(first defined at line 2; YAML keeps only one of them, so remove one)" in lines
    )
    assert any(line.startswith("catalog/methods/inference-bf16.yaml:1:5: error VA201:") for line in lines)
    assert f"8 files, {len(lines)} errors, 0 warnings" in result.stderr


def test_validate_single_file_and_absolute_paths_outside_cwd(broken, tmp_path):
    target = broken / "methods" / "inference-bf16.yaml"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = vramatlas("validate", "--schema-dir", str(SCHEMA), str(target), cwd=elsewhere)
    assert result.returncode == 1
    assert [LINE.match(line)["code"] for line in result.stdout.splitlines()] == ["VA201"]
    assert result.stdout.startswith(str(target.resolve()) + ":1:5:")


def test_validate_github_format(broken):
    result = vramatlas("validate", "--format", "github", "--schema-dir", str(SCHEMA), "catalog", cwd=broken.parent)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert (
        "::error file=catalog/gpus/rtx-4090.yaml,line=17,col=1,title=VA004::duplicate key 'name' "
        "(first defined at line 2; YAML keeps only one of them, so remove one)" in lines
    )
    assert all(re.match(r"^::(error|warning) file=[^,]+,line=\d+,col=\d+,title=VA\d{3}::", line) for line in lines)


def test_validate_unusable_arguments_exit_2(tmp_path):
    result = vramatlas("validate", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "missing.yaml" in result.stderr
    result = vramatlas("validate", "--schema-dir", str(tmp_path / "nope"), str(tmp_path))
    assert result.returncode == 2
    no_traceback(result)


def test_fmt_check_and_write(broken, tmp_path):
    root = tmp_path / "clean"
    shutil.copytree(FIXTURES / "base", root)
    gpu = root / "gpus" / "rtx-4090.yaml"
    gpu.write_text("# comment\n" + gpu.read_text())
    result = vramatlas("fmt", "--check", "--schema-dir", str(SCHEMA), str(root))
    assert result.returncode == 1 and "rtx-4090.yaml: not canonical" in result.stdout
    result = vramatlas("fmt", "--schema-dir", str(SCHEMA), str(root))
    assert result.returncode == 0 and not gpu.read_text().startswith("#")
    assert vramatlas("fmt", "--check", "--schema-dir", str(SCHEMA), str(root)).returncode == 0
    broken_result = vramatlas("fmt", "--check", "--schema-dir", str(SCHEMA), str(broken))
    assert broken_result.returncode == 1 and "VA004" in broken_result.stderr
    missing = vramatlas("fmt", str(tmp_path / "nope"))
    assert missing.returncode == 2
    no_traceback(missing)


@pytest.mark.parametrize("name", sorted(set(cli.SUBCOMMANDS) - {"validate", "fmt"}))
def test_other_commands_help_or_not_available(name):
    result = vramatlas(name, "--help")
    no_traceback(result)
    if result.returncode == 2:
        assert "not available yet" in result.stderr or "missing dependency" in result.stderr
        assert result.stderr.strip().count("\n") == 0
    else:
        assert result.returncode == 0 and name in result.stdout


def test_broken_pipe_is_quiet(tmp_path):
    root = tmp_path / "catalog"
    shutil.copytree(FIXTURES / "base", root)
    for i in range(300):
        (root / "methods" / f"m-{i:03d}.yaml").write_text(f"id: wrong-{i}\nname: x\n")
    proc = subprocess.run(
        f"'{sys.executable}' -m vramatlas validate --schema-dir '{SCHEMA}' '{root}' | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


# ---- the dispatcher, with fake subcommand modules ---------------------------------------------


@pytest.fixture
def fake_module(tmp_path, monkeypatch):
    pkg = tmp_path / "fakecmds"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "cmd.py").write_text(
        textwrap.dedent("""
        from vramatlas.cli import CLIError

        def add_arguments(parser):
            parser.add_argument("what")

        def run(args):
            if args.what == "ok":
                print("fine")
                return 0
            if args.what == "usage":
                raise CLIError("vramatlas fake: unknown model 'x' (try llama-3.1-8b)")
            if args.what == "interrupt":
                raise KeyboardInterrupt
            if args.what == "pipe":
                raise BrokenPipeError
            raise RuntimeError("boom\\nsecond line")
    """)
    )
    (pkg / "half.py").write_text("def add_arguments(parser):\n    pass\n")
    (pkg / "needs.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    table = dict(cli.SUBCOMMANDS)
    table["fake"] = cli.Subcommand("fakecmds.cmd", "add_arguments", "run", "a fake")
    table["half"] = cli.Subcommand("fakecmds.half", "add_arguments", "run", "half written")
    table["gone"] = cli.Subcommand("fakecmds.gone", "add_arguments", "run", "not written")
    table["needs"] = cli.Subcommand("fakecmds.needs", "add_arguments", "run", "missing dependency")
    monkeypatch.setattr(cli, "SUBCOMMANDS", table)
    monkeypatch.delenv("VRAMATLAS_DEBUG", raising=False)


def test_dispatcher_error_paths(fake_module, capsys):
    assert cli.main(["fake", "ok"]) == 0
    assert capsys.readouterr().out == "fine\n"
    cases = {
        ("fake", "usage"): (2, "vramatlas fake: unknown model 'x' (try llama-3.1-8b)"),
        ("fake", "crash"): (2, "vramatlas: internal error: RuntimeError: boom (set VRAMATLAS_DEBUG=1 for details)"),
        ("fake", "interrupt"): (130, "vramatlas: interrupted"),
        ("half", "x"): (2, "vramatlas half: not available yet (fakecmds.half has no add_arguments/run)"),
        ("gone", "x"): (2, "vramatlas gone: not available yet (fakecmds.gone does not exist)"),
        ("needs",): (
            2,
            "vramatlas needs: missing dependency 'no_such_dependency_xyz' "
            "(install it, e.g. pip install -e '.[measure]')",
        ),
    }
    for argv, (status, message) in cases.items():
        assert cli.main(list(argv)) == status, argv
        err = capsys.readouterr().err
        assert err == message + "\n", argv
    assert cli.main(["fake"]) == 2  # argparse: missing argument, in one line (the contract), not the usage block
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vramatlas fake: ") and "--help" in err
    assert cli.main(["--help"]) == 0
    assert "fake" in capsys.readouterr().out
