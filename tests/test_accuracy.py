"""The estimate against the H200 calibration measurements: the stated targets.

Targets (issue 3): median absolute error <= 5 %, 90th percentile <= 10 %,
largest <= 20 %, overall and within each method family. The calibration
cases are the 22 shared H200 measurements; held-back cases are judged the
same way, so no constant in the model is tuned to one row.
"""

import json
import subprocess
import sys

import pytest

from vramatlas.accuracy import accuracy_frame, summary
from vramatlas.catalog import load_catalog


@pytest.fixture(scope="module")
def frame():
    f = accuracy_frame(load_catalog())
    return f[f["measurement"].str.startswith("h200-")]


def test_every_calibration_case_is_in_the_catalogue(frame):
    import json as _json
    from pathlib import Path

    shared = Path(__file__).resolve().parents[2] / "shared" / "measurements" / "h200-calibration.json"
    if shared.exists():
        ids = {"h200-" + c["id"] for c in _json.loads(shared.read_text())["cases"]}
        assert ids <= set(frame["measurement"])
    assert len(frame) >= 22


@pytest.mark.parametrize("group", ["inference", "lora", "qlora", "full", "overall"])
def test_calibration_targets_hold(frame, group):
    stats = summary(frame).set_index("group")
    s = stats.loc[group]
    assert s["median"] <= 0.05, s
    assert s["p90"] <= 0.10, s
    assert s["max"] <= 0.20, s


def test_the_estimate_predicts_the_process_peak_not_the_weights(frame):
    # A rules-of-thumb estimate (weights only) misses the long-context and batch cases badly;
    # ours must not: every case within 10 %.
    assert (frame["abs_error"] <= 0.10).all(), frame.loc[frame["abs_error"] > 0.10, ["measurement", "error"]]


def test_accuracy_command_prints_cases_and_summary():
    out = subprocess.run([sys.executable, "-m", "vramatlas", "accuracy"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1].startswith("overall")
    assert any(line.startswith("h200-inf-l2-7b-bf16-p1k") for line in lines)
    js = subprocess.run(
        [sys.executable, "-m", "vramatlas", "accuracy", "--json"], capture_output=True, text=True, timeout=120
    )
    data = json.loads(js.stdout)
    assert {"cases", "summary"} <= set(data) and data["summary"][-1]["group"] == "overall"
