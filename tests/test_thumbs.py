"""Rules of thumb: every claim of issue 4 has a computed verdict and the numbers behind it."""

from __future__ import annotations

import pytest

from vramatlas.api import estimate
from vramatlas.catalog import load_catalog
from vramatlas.thumbs import COLUMNS, rules_of_thumb

CLAIMS = {  # issue 4's list
    "fp16-2gb-per-billion",
    "int8-halves",
    "full-ft-5-7x",
    "lora-7b-24-32gb",
    "qlora-less-than-lora",
    "7b-on-rtx-a4000",
    "70b-int8-70gb-3x3090",
    "70b-340b-beyond-consumer",
    "matmul-free-7x-less",
}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def table(catalog):
    return rules_of_thumb(catalog)


def test_every_claim_has_an_overall_verdict(table):
    assert list(table.columns) == list(COLUMNS)
    overall = table[table["setting"] == "overall"]
    assert set(overall["claim_id"]) == CLAIMS
    assert overall["claim_id"].is_unique
    assert set(overall["verdict"]) <= {"holds", "breaks", "depends"}
    assert set(table.loc[table["setting"] != "overall", "verdict"]) <= {"holds", "breaks"}


def test_overall_follows_the_settings(table):
    for cid, part in table.groupby("claim_id"):
        settings = part[part["setting"] != "overall"]
        assert len(settings) >= 3, cid
        overall = part[part["setting"] == "overall"].iloc[0]
        holds = (settings["verdict"] == "holds").sum()
        want = "holds" if holds == len(settings) else "breaks" if holds == 0 else "depends"
        assert overall["verdict"] == want
        assert not part.duplicated(["claim_id", "setting"]).any()


def test_numbers_are_there(table):
    rows = table[table["setting"] != "overall"]
    assert (rows["computed_value"] > 0).all()
    assert set(rows["value_unit"]) <= {"bytes", "ratio"}
    assert rows["explanation"].str.len().min() > 10
    for col in ("claimed", "computed"):
        assert (rows[col].str.len() > 0).all()


def test_settings_vary_what_claims_leave_out(table):
    settings = " ".join(table["setting"])
    for word in ("checkpointing", "batch 8", "128k", "SGD", "8-bit AdamW"):
        assert word in settings


def test_values_come_from_estimate(catalog, table):
    row = table[(table["claim_id"] == "lora-7b-24-32gb") & table["setting"].str.contains("2k context, batch 1")].iloc[0]
    e = estimate(catalog, model="llama-2-7b", method="lora", seq_len=2048, batch=1, grad_checkpointing=True)
    assert row["computed_value"] == e.peak_bytes
    weights = table[(table["claim_id"] == "fp16-2gb-per-billion") & table["setting"].str.contains("weights only")].iloc[
        0
    ]
    assert weights["verdict"] == "holds"  # 2 bytes per parameter is exactly the weights
