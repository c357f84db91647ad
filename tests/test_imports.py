"""The command line imports heavy libraries only for the work that needs them."""

from __future__ import annotations

import json
import subprocess
import sys

from vramatlas.cli import SUBCOMMANDS

HEAVY = ("numpy", "pandas", "altair", "torch", "mkdocs", "jinja2", "pyarrow", "jsonschema")


def test_help_of_every_command_imports_nothing_heavy():
    code = (
        "import contextlib, io, json, sys; from vramatlas.cli import main\n"
        f"for cmd in [[], *[[name, '--help'] for name in {sorted(SUBCOMMANDS)!r}]]:\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "        main([*cmd, '--help'] if not cmd else cmd)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_a_lazy_module_imports_on_first_use():
    code = (
        "import sys; from vramatlas.lazy import lazy; np = lazy('numpy'); assert 'numpy' not in sys.modules; "
        "assert np.where([True], 1, 0)[0] == 1 and 'numpy' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_estimate_path_is_python_3_10_syntax():
    """Pyodide and the oldest supported Python run this path: every module it imports parses as 3.10."""
    import ast
    from pathlib import Path

    code = (
        "import json, sys; from vramatlas.cli import main; main(['estimate', '--model', 'llama-3.1-8b', "
        "'--method', 'qlora', '--gpu', 'rtx-4090', '--json']); "
        "print(json.dumps(sorted(m.__file__ for n, m in list(sys.modules.items()) "
        "if n.startswith('vramatlas') and getattr(m, '__file__', None))), file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    files = json.loads(out.stderr.strip().splitlines()[-1])
    assert len(files) >= 8
    for path in files:
        ast.parse(Path(path).read_text(encoding="utf-8"), filename=path, feature_version=(3, 10))
