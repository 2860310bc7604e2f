"""Seeded proxy/test split, and the CLI round trip load-dataset -> split-dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from goldenlayers import cli
from goldenlayers.data.schema import read_cases
from goldenlayers.data.split import proxy_size_for, split_indices
from goldenlayers.errors import InputError
from goldenlayers.io import read_parquet_metadata

ROOT = Path(__file__).resolve().parents[1]


def test_same_seed_same_split_and_disjoint():
    a_proxy, a_test, plan = split_indices(300, seed=7)
    b_proxy, b_test, _ = split_indices(300, seed=7)
    assert np.array_equal(a_proxy, b_proxy) and np.array_equal(a_test, b_test)
    assert plan.proxy_size == 30 and plan.test_size == 270  # 10% of 300
    assert set(a_proxy).isdisjoint(a_test) and sorted([*a_proxy, *a_test]) == list(range(300))
    assert list(a_proxy) == sorted(a_proxy) and list(a_test) == sorted(a_test)
    c_proxy, _, _ = split_indices(300, seed=8)
    assert not np.array_equal(a_proxy, c_proxy)


def test_sizes():
    assert proxy_size_for(50) == 10  # proxy_min wins over round(0.1 * 50) = 5
    assert proxy_size_for(250) == 25
    assert proxy_size_for(25, proxy_fraction=0.1, proxy_min=1) == 3  # 2.5 rounds half up
    assert proxy_size_for(300, proxy_size=3) == 3
    proxy, test, plan = split_indices(300, seed=0, proxy_size=3, test_size=5)
    assert (len(proxy), len(test), plan.test_size) == (3, 5, 5) and set(proxy).isdisjoint(test)
    # the capped test set is the start of the same shuffled remainder
    _, full_test, _ = split_indices(300, seed=0, proxy_size=3)
    assert set(test) <= set(full_test)


@pytest.mark.parametrize("kwargs", [dict(proxy_size=20), dict(proxy_size=25), dict(proxy_min=20)])
def test_proxy_not_smaller_than_dataset(kwargs):
    with pytest.raises(InputError) as err:
        split_indices(20, seed=0, **kwargs)
    assert err.value.field == "split.proxy_size" and "20 cases" in str(err.value)


@pytest.mark.parametrize("kwargs,field", [
    (dict(proxy_size=0), "split.proxy_size"),
    (dict(proxy_fraction=1.5), "split.proxy_fraction"),
    (dict(test_size=0), "split.test_size"),
    (dict(seed=-1), "split.seed"),
])
def test_bad_split_settings(kwargs, field):
    kwargs = {"seed": 0, **kwargs}
    with pytest.raises(InputError) as err:
        split_indices(100, **kwargs)
    assert err.value.field == field


def test_cli_round_trip(tmp_path, capsys):
    sample = ROOT / "data" / "benchmarks" / "counterfact" / "counterfact_sample.json"
    cases = tmp_path / "cases.parquet"
    assert cli.main(["load-dataset", "--dataset", "counterfact", "--format", "counterfact",
                     "--input", str(sample), "--output", str(cases)]) == 0
    all_cases = read_cases(cases)
    assert len(all_cases) == 300 and all_cases[0].target_true == "French"

    def split(tag, *extra):
        proxy, test = tmp_path / f"proxy{tag}.parquet", tmp_path / f"test{tag}.parquet"
        code = cli.main(["split-dataset", "--input", str(cases), "--proxy-output", str(proxy),
                         "--test-output", str(test), "--seed", "0", *extra])
        return code, proxy, test

    code, proxy, test = split("a", "--proxy-fraction", "0.1", "--proxy-min", "10")
    assert code == 0
    p, t = read_cases(proxy), read_cases(test)
    assert (len(p), len(t)) == (30, 270)
    assert {c.case_id for c in p}.isdisjoint(c.case_id for c in t)
    assert sorted(c.case_id for c in p + t) == sorted(c.case_id for c in all_cases)
    meta = read_parquet_metadata(proxy)
    assert meta["split"] == "proxy" and meta["dataset"] == "counterfact" and len(meta["cases_sha256"]) == 64
    assert json.loads(meta["split_plan"])["seed"] == 0 and meta["source_sha256"] == read_parquet_metadata(cases)[
        "source_sha256"]

    _, proxy_b, test_b = split("b", "--proxy-fraction", "0.1", "--proxy-min", "10")
    assert proxy_b.read_bytes() == proxy.read_bytes() and test_b.read_bytes() == test.read_bytes()

    code, proxy_c, test_c = split("c", "--proxy-size", "300")
    assert code == 2 and not proxy_c.exists() and not test_c.exists()
    assert "split.proxy_size" in capsys.readouterr().err
