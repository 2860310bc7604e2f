"""Inputs of a job-level test: a prepared tiny LLaMA model, stored context prefixes and three real cases."""

from __future__ import annotations

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
