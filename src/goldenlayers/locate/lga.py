"""Layer Gradient Analysis (LGA): the paper's locator.

For proxy case i (query Q_i, old answer K_i, new answer K'_i) and layer L with parameters theta_L::

    S_L = sum_i < grad_theta_L CE(Q_i + K_i), grad_theta_L CE(Q_i + K'_i) >

CE is the mean cross entropy over the answer tokens, teacher forced after the query, tokenised exactly as
the metrics tokenise (``encode_qa``), on the pre-edit model. theta_L is the weight the editor rewrites
(``params="rewritten_weight"``) or every parameter of the layer's MLP (``params="mlp"``).

One backward pass per text gives every layer's gradient at once: only the theta parameters require grad,
and after the backward each layer's ``.grad`` is read. So a case costs two forward and two backward passes,
whatever the number of layers. Layers outside Tukey's fences are dropped; the golden layer is the argmax of
S_L over the kept layers, over the sweep grid (``is_golden``, comparable with brute force) and over all
layers (``is_golden_all``).

Beyond the paper, each case's own layer: the same Tukey rule applied to that case's contributions alone (fences
over all its layers, argmax over the kept ones; ``case_kept`` and ``is_case_choice`` in the per-case table). Run
on the test split (rule ``lga_test``), it gives every test case its own layer, which the analysis scores by a
lookup into the edits (``analysis/per_case_layer.py``).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..errors import ConfigError, InputError
from ..models.tokens import QA, answer_logits, encode_qa
from .old_answer import OldAnswer, is_greedy_answer, old_answer
from .options import OLD_ANSWER_MODES, PARAM_MODES
from .tukey import Golden, TukeyResult, tukey_golden

log = logging.getLogger(__name__)


def layer_params(layout, layer: int, mode: str = "rewritten_weight") -> list[torch.nn.Parameter]:
    """theta_L: the rewritten weight, or all parameters of the layer's MLP."""
    if mode == "rewritten_weight":
        return [layout.rewrite_weight(layer)]
    if mode == "mlp":
        return list(layout.mlp(layer).parameters())
    raise ConfigError(f"unknown LGA parameter set {mode!r} (one of {', '.join(PARAM_MODES)})", field="lga.params")


def answer_ce(model, qa: QA, pad_id: int) -> torch.Tensor:
    """Mean cross entropy over the answer tokens of one (query, answer), teacher forced."""
    logits, _, targets = answer_logits(model, [qa], pad_id)
    return F.cross_entropy(logits.float(), targets)


def _pad_id(tokenizer) -> int:
    pad = tokenizer.pad_token_id
    return int(pad if pad is not None else tokenizer.eos_token_id)


class _GradScope:
    """Within the block, only ``params`` require grad and the model is in eval mode; restored on exit."""

    def __init__(self, model, params: Sequence[torch.nn.Parameter]):
        self.model, self.params = model, list(params)

    def __enter__(self):
        self.flags = [(p, p.requires_grad) for p in self.model.parameters()]
        self.training = self.model.training
        self.model.eval()
        for p, _ in self.flags:
            p.requires_grad_(False)
            p.grad = None
        for p in self.params:
            p.requires_grad_(True)
        return self

    def __exit__(self, *exc):
        for p, flag in self.flags:
            p.grad = None
            p.requires_grad_(flag)
        self.model.train(self.training)
        return False


def layer_gradients(model, qa: QA, params_by_layer: list[list[torch.nn.Parameter]], pad_id: int) -> list[list[torch.Tensor]]:
    """The gradient of the answer CE w.r.t. every layer's theta, from ONE backward pass.

    Must run inside a :class:`_GradScope` over all the parameters of ``params_by_layer``. The returned
    tensors are the ``.grad`` buffers themselves (detached from the parameters, no copy).
    """
    for group in params_by_layer:
        for p in group:
            p.grad = None
    loss = answer_ce(model, qa, pad_id)
    loss.backward()
    grads = []
    for group in params_by_layer:
        layer_grads = []
        for p in group:
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            p.grad = None
            layer_grads.append(g)
        grads.append(layer_grads)
    return grads


def inner_products(grads_a: list[list[torch.Tensor]], grads_b: list[list[torch.Tensor]]) -> np.ndarray:
    """Per layer, the sum over its parameters of <a, b> (accumulated in float64)."""
    out = np.empty(len(grads_a), dtype="float64")
    for layer, (group_a, group_b) in enumerate(zip(grads_a, grads_b)):
        total = 0.0
        for a, b in zip(group_a, group_b):
            total += float(torch.vdot(a.reshape(-1).float(), b.reshape(-1).float()).double())
        out[layer] = total
    return out


@dataclass
class LGAResult:
    layers: list[int]
    grid: list[int]
    scores: np.ndarray                # [n_layers], S_L (sum over the used cases)
    contributions: np.ndarray         # [n_cases, n_layers], NaN rows for skipped cases
    case_ids: list[str]
    old_answers: list[str]
    old_answer_sources: list[str]
    query_tokens: list[int]
    kept: np.ndarray
    lower_fence: float
    upper_fence: float
    golden: Golden                    # over the grid (kept layers only)
    golden_all: Golden                # over all layers (kept layers only)
    n_skipped: int
    seconds: float
    settings: dict = field(default_factory=dict)
    old_is_greedy: list[bool] = field(default_factory=list)   # per case: the old answer is the greedy answer
    case_seconds: list[float] = field(default_factory=list)   # per case: its own time

    def case_choices(self) -> list[TukeyResult]:
        """Per case, the golden layer's Tukey rule on that case's contributions alone: fences over all its
        layers, argmax over the kept ones (every tied layer). A skipped case keeps nothing and has no choice."""
        k, method = self.settings.get("tukey_k", 1.0), self.settings.get("quantile_method", "linear")
        return [tukey_golden(self.layers, row, k, method) for row in self.contributions]

    def diagnostics(self) -> dict:
        """What the choice rests on: cases whose old answer is the model's greedy answer, and the sign of the
        kept layers' S_L (all negative: the argmax picks the layer with the smallest gradient overlap)."""
        kept = self.scores[self.kept & np.isfinite(self.scores)]
        return {"n_old_is_greedy": np.int64(sum(self.old_is_greedy)),
                "frac_negative": float((kept < 0).mean()) if kept.size else math.nan,
                "all_kept_negative": bool(kept.size and (kept < 0).all())}

    @property
    def n_cases(self) -> int:
        return len(self.case_ids)

    @property
    def mean_query_tokens(self) -> float:
        return float(np.mean(self.query_tokens)) if self.query_tokens else math.nan

    def layer_frame(self, model: str, dataset: str) -> pd.DataFrame:
        """One row per layer: the ``lga.parquet`` contract (docs/SCHEMAS.md) plus extra columns."""
        grid = set(self.grid)
        return pd.DataFrame({
            "model": model,
            "dataset": dataset,
            "layer": np.asarray(self.layers, dtype="int64"),
            "score": self.scores.astype("float64"),
            "kept": self.kept.astype(bool),
            "in_grid": [layer in grid for layer in self.layers],
            "is_golden": [layer in self.golden.ties for layer in self.layers],         # every tied layer
            "is_golden_all": [layer in self.golden_all.ties for layer in self.layers],
            "golden_tied": [layer in self.golden.ties and self.golden.tied for layer in self.layers],
            "lower_fence": self.lower_fence,
            "upper_fence": self.upper_fence,
            "n_cases": np.int64(self.n_cases),
            "n_skipped": np.int64(self.n_skipped),
            "seconds": float(self.seconds),
            "mean_query_tokens": self.mean_query_tokens,
            **self.diagnostics(),
        })

    def case_frame(self) -> pd.DataFrame:
        """One row per (case, layer): the ``lga_cases.parquet`` contract plus the old answer used and the case's
        own choice (``case_kept``: inside the case's own fences; ``is_case_choice``: its argmax, every tied layer)."""
        n_layers = len(self.layers)
        choices = self.case_choices()
        return pd.DataFrame({
            "case_id": np.repeat(np.asarray(self.case_ids, dtype=object), n_layers),
            "layer": np.tile(np.asarray(self.layers, dtype="int64"), self.n_cases),
            "contribution": self.contributions.reshape(-1).astype("float64"),
            "case_kept": np.concatenate([c.kept for c in choices]) if choices else np.zeros(0, dtype=bool),
            "is_case_choice": np.asarray([layer in c.golden.ties for c in choices for layer in self.layers],
                                         dtype=bool),
            "old_answer": np.repeat(np.asarray(self.old_answers, dtype=object), n_layers),
            "old_answer_source": np.repeat(np.asarray(self.old_answer_sources, dtype=object), n_layers),
            "query_tokens": np.repeat(np.asarray(self.query_tokens, dtype="int64"), n_layers),
            "old_is_greedy": np.repeat(np.asarray(self.old_is_greedy or [False] * self.n_cases, dtype=bool), n_layers),
            "seconds": np.repeat(np.asarray(self.case_seconds or [math.nan] * self.n_cases, dtype="float64"),
                                 n_layers),
        })


def run_lga(model, tokenizer, layout, cases, grid: Sequence[int] | None = None, params: str = "rewritten_weight",
            tukey_k: float = 1.0, quantile_method: str = "linear",
            old_answer_mode: str = "ground_truth_else_greedy") -> LGAResult:
    """Score every layer of ``model`` with LGA on ``cases`` (EditCase-like: case_id, prompt, target_new,
    target_true). ``grid`` (default: every layer) is where ``is_golden`` is taken."""
    if old_answer_mode not in OLD_ANSWER_MODES:
        raise ConfigError(f"unknown old-answer mode {old_answer_mode!r}", field="lga.old_answer")
    if not cases:
        raise InputError("no proxy cases to score", field="cases")
    layers = list(range(layout.n_layers))
    grid = layers if grid is None else sorted({layout.check_layer(int(g), field="grid") for g in grid})
    params_by_layer = [layer_params(layout, layer, params) for layer in layers]
    pad_id = _pad_id(tokenizer)

    start = time.perf_counter()
    contributions = np.full((len(cases), len(layers)), np.nan)
    answers, sources, query_tokens, greedy_flags, case_seconds = [], [], [], [], []
    n_skipped = 0
    for row, case in enumerate(cases):
        case_start = time.perf_counter()
        old = old_answer(model, tokenizer, case, old_answer_mode)
        answers.append(old.text)
        sources.append(old.source)
        qa_new = encode_qa(tokenizer, case.prompt, case.target_new)
        query_tokens.append(qa_new.n_query)
        if not old.text:
            log.warning("case %s: the model's greedy answer is empty; the case is skipped", case.case_id)
            n_skipped += 1
            case_seconds.append(time.perf_counter() - case_start)
            continue
        qa_old = encode_qa(tokenizer, case.prompt, old.text)
        with _GradScope(model, [p for group in params_by_layer for p in group]):
            grads_old = layer_gradients(model, qa_old, params_by_layer, pad_id)
            grads_new = layer_gradients(model, qa_new, params_by_layer, pad_id)
            contributions[row] = inner_products(grads_old, grads_new)
        del grads_old, grads_new
        case_seconds.append(time.perf_counter() - case_start)
        if not np.isfinite(contributions[row]).all():
            log.warning("case %s: non-finite gradient inner products at layers %s", case.case_id,
                        [layers[i] for i in np.flatnonzero(~np.isfinite(contributions[row]))])
        log.debug("case %s: %d query tokens, old answer %r (%s)", case.case_id, qa_new.n_query, old.text, old.source)

    used = ~np.isnan(contributions).all(axis=1)
    scores = contributions[used].sum(axis=0) if used.any() else np.full(len(layers), np.nan)
    seconds = time.perf_counter() - start
    # diagnostics, outside the timed work: is each old answer the model's own greedy answer?
    greedy_flags = [is_greedy_answer(model, tokenizer, case, OldAnswer(text, source))
                    for case, text, source in zip(cases, answers, sources)]

    on_grid = tukey_golden(layers, scores, tukey_k, quantile_method, among=grid)
    on_all = tukey_golden(layers, scores, tukey_k, quantile_method)
    for name, golden in (("grid", on_grid.golden), ("all layers", on_all.golden)):
        if golden.tied:
            log.warning("LGA golden layer over the %s is tied between layers %s (all marked; scored as their "
                        "mean)", name, golden.ties)
    return LGAResult(
        layers=layers, grid=grid, scores=scores, contributions=contributions,
        case_ids=[str(c.case_id) for c in cases], old_answers=answers, old_answer_sources=sources,
        query_tokens=query_tokens, kept=on_grid.kept, lower_fence=on_grid.fences.lower,
        upper_fence=on_grid.fences.upper, golden=on_grid.golden, golden_all=on_all.golden,
        n_skipped=n_skipped, seconds=seconds, old_is_greedy=greedy_flags, case_seconds=case_seconds,
        settings={"params": params, "tukey_k": tukey_k, "quantile_method": quantile_method,
                  "old_answer": old_answer_mode, "grid": grid},
    )
