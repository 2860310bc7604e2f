"""Which layer to edit for a given model and facts: LGA's golden layer (and CMA's, optionally), with the
per-layer scores, and an EasyEdit-style hyperparameter snippet that edits that layer.

This only combines :func:`goldenlayers.locate.lga.run_lga` and :func:`goldenlayers.locate.cma.run_cma`; it
computes nothing of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cma import run_cma
from .lga import run_lga

ALG_NAMES = {"rome": "ROME", "r-rome": "R-ROME", "memit": "MEMIT", "emmet": "EMMET"}


@dataclass
class FoundLayer:
    golden: int | None          # LGA's golden layer (over the kept layers)
    table: pd.DataFrame         # one row per layer
    n_cases: int
    n_skipped: int
    lga_seconds: float
    cma_golden: int | None = None
    cma_seconds: float | None = None


def find_layer(model, tokenizer, layout, cases, *, cma: bool = False, params: str = "rewritten_weight",
               tukey_k: float = 1.0, quantile_method: str = "linear", old_answer: str = "ground_truth_else_greedy",
               cma_samples: int = 10, cma_window: int = 10, seed: int = 0) -> FoundLayer:
    """LGA on ``cases`` (and CMA with ``cma``); the table has layer, lga_score, kept, golden (and cma_effect)."""
    lga = run_lga(model, tokenizer, layout, cases, params=params, tukey_k=tukey_k, quantile_method=quantile_method,
                  old_answer_mode=old_answer)
    table = pd.DataFrame({"layer": lga.layers, "lga_score": lga.scores, "kept": lga.kept.astype(bool),
                          "golden": [layer == lga.golden_all.layer for layer in lga.layers]})
    found = FoundLayer(golden=lga.golden_all.layer, table=table, n_cases=lga.n_cases, n_skipped=lga.n_skipped,
                       lga_seconds=lga.seconds)
    if cma:
        result = run_cma(model, tokenizer, layout, cases, samples=cma_samples, window=cma_window, seed=seed)
        table["cma_effect"] = np.asarray(result.mean_indirect_effect, dtype="float64")
        table["cma_golden"] = [layer == result.golden_all.layer for layer in lga.layers]
        found.cma_golden, found.cma_seconds = result.golden_all.layer, result.seconds
    return found


def hparams_snippet(found: FoundLayer, layout, *, editor: str, model_name: str, facts: str) -> str:
    """EasyEdit-style YAML: ``layers: [L]`` plus the module paths of this model (EasyEdit's key names)."""
    block = layout.blocks_path + ".{}"
    lines = [
        f"# goldenlayers find-layer: LGA golden layer of {model_name} on {found.n_cases} facts from {facts}",
        f"# ({found.n_skipped} skipped). Merge into your editor's hparams file; layers: [L] is the edited layer.",
        f"alg_name: {ALG_NAMES.get(editor, editor.upper())}",
        f"model_name: {model_name}",
        f"layers: [{found.golden if found.golden is not None else ''}]",
        f'rewrite_module_tmp: "{block}.{layout.proj_name}"',
        f'layer_module_tmp: "{block}"',
        f'mlp_module_tmp: "{block}.{layout.mlp_name}"',
        f'ln_f_module: "{layout.final_norm_path}"',
    ]
    if found.cma_golden is not None:
        lines.append(f"# CMA's golden layer on the same facts: {found.cma_golden}")
    return "\n".join(lines) + "\n"
