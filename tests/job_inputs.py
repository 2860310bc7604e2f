"""Inputs of job-level tests: a prepared tiny model, stored context prefixes and real cases as Parquet."""

from __future__ import annotations

import functools
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tiny_job_inputs(tmp_path: Path) -> Path:
    """Write model/, prefixes.json and cases.parquet under tmp_path; return the model directory."""
    from goldenlayers.commands._common import set_threads
    from goldenlayers.data.loaders import load_cases
    from goldenlayers.data.schema import cases_to_table
    from goldenlayers.editors.context import generate_prefixes
    from goldenlayers.io import write_json
    from goldenlayers.models.load import load_model, prepare_model
    import pyarrow.parquet as pq

    set_threads(1)
    model_dir = tmp_path / "model"
    prepare_model("tiny-llama", {"source": "tiny", "family": "llama", "num_layers": 4}, model_dir)
    model, tokenizer, _, _ = load_model(model_dir, device="cpu")
    write_json(tmp_path / "prefixes.json", {"by_length": generate_prefixes(model, tokenizer, [[5, 2]], seed=0)})
    cases = load_cases(REPO / "data/benchmarks/counterfact/counterfact_sample.json", "counterfact", "counterfact").cases[:3]
    pq.write_table(cases_to_table(cases), tmp_path / "cases.parquet")
    return model_dir


def tiny_model_and_cases(tmp_path: Path, family: str, cases) -> tuple[Path, Path]:
    """A prepared 3-layer tiny model of ``family`` (models/tiny-<family>) and ``cases`` as proxy.parquet."""
    from goldenlayers.data.schema import cases_to_table
    from goldenlayers.models.load import prepare_model
    import pyarrow.parquet as pq

    model_dir = tmp_path / "models" / f"tiny-{family}"
    prepare_model(f"tiny-{family}", {"source": "tiny", "family": family, "num_layers": 3}, model_dir)
    cases_path = tmp_path / "proxy.parquet"
    pq.write_table(cases_to_table(cases), cases_path)
    return model_dir, cases_path


@functools.lru_cache(maxsize=None)
def cached_tiny(family: str, num_layers: int, seed: int):
    """(model, tokenizer, layout) of a tiny randomly initialised model, built once per test process, no gradients."""
    from goldenlayers.models.layout import resolve_layout
    from goldenlayers.models.tiny import build_tiny

    model, tokenizer = build_tiny(family, num_layers, seed=seed)
    model.requires_grad_(False)
    return model, tokenizer, resolve_layout(model)
