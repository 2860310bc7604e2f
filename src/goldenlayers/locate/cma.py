"""Causal mediation analysis (CMA): ROME's causal tracing, the baseline locator.

For each proxy case:
1. clean run of the prompt: the traced token is the model's own greedy next token (its clean prediction of
   the answer's first token, as ROME's tracing does when no expected answer is given), ``p_clean`` its
   probability. With ``cases="known"`` only cases whose ground-truth old answer starts with that token are
   traced (a small model knows few facts, so this can leave nothing); the others are skipped and counted;
2. corrupted runs: Gaussian noise (std = ``noise_scale`` x the std of the subject-token embeddings over the
   proxy cases) is added to the embedding module's output at the subject tokens, ``samples`` copies with a
   noise seed fixed per (seed, case); ``p_corrupt`` is the mean probability of the clean answer;
3. restored runs, one per layer L: the same corrupted copies, but the clean output of the MLP (by default;
   ``restore="hidden"``: of the whole block) at the last subject token is written back in every layer of a
   window of ``window`` layers centred on L (ROME's ``[L - w//2, L + ceil(w/2))``, clipped at the ends).
   ``p_restored`` is the mean probability of the clean answer; the indirect effect is p_restored - p_corrupt.

Layers score by the mean of ``p_restored`` over the kept cases; the golden layer is its argmax over the
sweep grid (``is_golden``) and over all layers (``is_golden_all``). Hooks go on modules the layout resolves
(the embedding module, ``layout.mlp(L)``, ``layout.block(L)``), so GPT-2, LLaMA and Gemma3 (whose embedding
module scales its output itself) share every line.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..errors import ConfigError, InputError
from ..models.hooks import hooks as _hooks
from ..models.hooks import main_output as _main_tensor
from ..models.tokens import encode_qa, output_logits
from .options import CASE_MODES, RESTORE_KINDS, RESTORE_TOKENS
from .tukey import Golden, argmax_layers

log = logging.getLogger(__name__)


# -- positions, windows, noise -------------------------------------------------------------------

def subject_positions(tokenizer, prompt: str, subject: str, case_id: object = None) -> tuple[list[int], list[int]]:
    """(token ids of ``prompt``, positions of the tokens overlapping the first occurrence of ``subject``)."""
    start = prompt.find(subject)
    if not subject or start < 0:
        raise InputError(f"subject {subject!r} does not occur in the prompt {prompt!r}", record=case_id, field="subject")
    end = start + len(subject)
    try:
        encoded = tokenizer(prompt, return_offsets_mapping=True)
    except NotImplementedError as err:  # slow tokenizers have no offsets
        raise InputError("CMA needs a fast tokenizer (token offsets)", field="tokenizer") from err
    positions = [i for i, (a, b) in enumerate(encoded["offset_mapping"]) if b > a and a < end and b > start]
    if not positions:
        raise InputError(f"no token of the prompt covers the subject {subject!r}", record=case_id, field="subject")
    return list(encoded["input_ids"]), positions


def window_layers(layer: int, window: int, n_layers: int) -> tuple[int, ...]:
    """The ``window`` layers centred on ``layer`` (ROME: ``[L - w//2, L + ceil(w/2))``), clipped at the ends."""
    return tuple(range(max(0, layer - window // 2), min(n_layers, layer - (-window // 2))))


def case_seed(seed: int, case_id: object) -> int:
    """A noise seed fixed by the global seed and the case (independent of the case's position in the file)."""
    return int(hashlib.sha256(f"{seed}:{case_id}".encode()).hexdigest()[:15], 16)


def case_noise(seed: int, case_id: object, samples: int, n_positions: int, hidden: int) -> torch.Tensor:
    """Standard normal noise [samples, n_positions, hidden] (float32, CPU), the same on every machine."""
    generator = torch.Generator().manual_seed(case_seed(seed, case_id))
    return torch.randn(samples, n_positions, hidden, generator=generator, dtype=torch.float32)


@torch.no_grad()
def subject_embedding_std(model, layout, tokenizer, cases) -> float:
    """Std of the embedding module's output over every subject token of ``cases`` (all elements pooled)."""
    device = next(model.parameters()).device
    rows = []
    for case in cases:
        ids, positions = subject_positions(tokenizer, case.prompt, case.subject, case.case_id)
        embedded = layout.embedding(torch.tensor([ids], device=device))
        rows.append(embedded[0, positions].float().cpu())
    return float(torch.cat(rows).std())


# -- hooks ---------------------------------------------------------------------------------------

def _restore_module(layout, layer: int, restore: str):
    return layout.mlp(layer) if restore == "mlp" else layout.block(layer)


def _answer_probs(model, ids: torch.Tensor, token: int | None) -> tuple[torch.Tensor, int]:
    """Probabilities at the last position of every row of ``ids``: (p[token] per row, argmax of row 0)."""
    hidden = model.base_model(input_ids=ids).last_hidden_state[:, -1]
    probs = torch.softmax(output_logits(model, hidden).float(), dim=-1)
    top = int(probs[0].argmax())
    return probs[:, top if token is None else token], top


@dataclass
class CaseTrace:
    case_id: str
    query_tokens: int
    clean_token: int
    expected_token: int | None
    kept: bool
    skip_reason: str | None
    p_clean: float
    p_corrupt: float
    p_restored: np.ndarray   # [n_layers]
    seconds: float = math.nan  # this case's own tracing time

    @property
    def corruption_effect(self) -> float:
        """p_clean - p_corrupt: how much the noise on the subject lowers the traced token (> 0: a signal)."""
        return self.p_clean - self.p_corrupt if self.kept else math.nan


@torch.no_grad()
def trace_case(model, layout, ids: list[int], positions: list[int], noise: torch.Tensor,
               windows: Sequence[tuple[int, ...]], restore: str = "mlp", restore_token: str = "last_subject",
               max_batch: int = 64, answer_token: int | None = None) -> tuple[int, float, float, np.ndarray]:
    """Causal trace of one prompt.

    ``noise`` [samples, len(positions), hidden] is added (already scaled) to the embedding output at
    ``positions``. For each window (a tuple of layers) the clean states of those layers are restored.
    Returns (clean answer token, p_clean, p_corrupt, p_restored per window).
    """
    if restore not in RESTORE_KINDS:
        raise ConfigError(f"unknown restore kind {restore!r} (one of {', '.join(RESTORE_KINDS)})", field="cma.restore")
    if restore_token not in RESTORE_TOKENS:
        raise ConfigError(f"unknown restore token {restore_token!r}", field="cma.restore_token")
    device = next(model.parameters()).device
    ids_t = torch.tensor([ids], device=device)
    restore_at = torch.tensor([positions[-1]] if restore_token == "last_subject" else list(range(len(ids))), device=device)
    needed = sorted({layer for window in windows for layer in window})

    # 1. clean run, recording the states to restore
    clean_states: dict[int, torch.Tensor] = {}

    def recorder(layer):
        def hook(module, args, output):
            clean_states[layer] = _main_tensor(output)[0, restore_at].detach().clone()
        return hook

    with _hooks([(_restore_module(layout, layer, restore), recorder(layer)) for layer in needed]):
        p_clean_t, clean_token = _answer_probs(model, ids_t, answer_token)
    token = clean_token if answer_token is None else answer_token
    p_clean = float(p_clean_t[0])

    means = _corrupted_means(model, layout, ids_t, positions, noise, windows, clean_states, restore,
                             restore_at, max_batch, token)
    return token, p_clean, float(means[0]), np.asarray(means[1:], dtype="float64")


@torch.no_grad()
def _corrupted_means(model, layout, ids_t: torch.Tensor, positions: list[int], noise: torch.Tensor,
                     windows: Sequence[tuple[int, ...]], clean_states: dict[int, torch.Tensor], restore: str,
                     restore_at: torch.Tensor, max_batch: int, token: int) -> list[float]:
    """The corrupted runs of :func:`trace_case`: one batch row per (window, sample), the first "window"
    restoring nothing. Returns the mean probability of ``token`` per window, the unrestored run first."""
    device = ids_t.device
    dtype = layout.embedding.weight.dtype
    samples = noise.shape[0]
    subject_at = torch.tensor(positions, device=device)
    noise_dev = noise.to(device=device, dtype=dtype)
    all_windows: list[tuple[int, ...]] = [()] + [tuple(w) for w in windows]
    per_chunk = max(1, max_batch // samples)
    means = []
    for first in range(0, len(all_windows), per_chunk):
        chunk = all_windows[first:first + per_chunk]
        rows = len(chunk) * samples
        batch_noise = noise_dev.repeat(len(chunk), 1, 1)           # row j*samples + s gets noise[s]

        def add_noise(module, args, output):
            out = output.clone()
            out[:, subject_at] = out[:, subject_at] + batch_noise
            return out

        def restorer(layer):
            rows_l = torch.tensor([j * samples + s for j, w in enumerate(chunk) if layer in w for s in range(samples)],
                                  device=device, dtype=torch.long)

            def hook(module, args, output):
                tensor = _main_tensor(output)
                tensor[rows_l.unsqueeze(1), restore_at.unsqueeze(0)] = clean_states[layer].unsqueeze(0).to(tensor.dtype)
            return hook

        hooks = [(layout.embedding, add_noise)]
        hooks += [(_restore_module(layout, layer, restore), restorer(layer))
                  for layer in sorted({layer for w in chunk for layer in w})]
        with _hooks(hooks):
            probs, _ = _answer_probs(model, ids_t.expand(rows, -1), token)
        means.extend(probs.view(len(chunk), samples).mean(dim=1).double().cpu().tolist())
    return means


# -- which token is traced -----------------------------------------------------------------------

def _expected_token(tokenizer, case) -> int | None:
    """The first token of the case's ground-truth old answer (None where the dataset has none)."""
    if not case.target_true:
        return None
    qa = encode_qa(tokenizer, case.prompt, case.target_true)
    return qa.ids[qa.n_query]


def _skip_reason(cases_mode: str, expected: int | None, clean_token: int) -> str | None:
    """Why a case is not traced (None: it is). ``prediction`` traces every case; ``known`` only those whose
    ground truth starts with the model's prediction."""
    if cases_mode == "prediction":
        return None
    if expected is None:
        return "no ground-truth old answer (cma.cases: known)"
    if clean_token != expected:
        return "clean model does not predict the old answer's first token (cma.cases: known)"
    return None


# -- the locator ---------------------------------------------------------------------------------

@dataclass
class CMAResult:
    layers: list[int]
    grid: list[int]
    traces: list[CaseTrace]
    mean_effect: np.ndarray            # [n_layers] mean p_restored over kept cases
    mean_indirect_effect: np.ndarray   # [n_layers] mean (p_restored - p_corrupt) over kept cases
    golden: Golden
    golden_all: Golden
    noise_std: float
    seconds: float
    settings: dict = field(default_factory=dict)

    @property
    def n_cases(self) -> int:
        return len(self.traces)

    @property
    def n_skipped(self) -> int:
        return sum(not t.kept for t in self.traces)

    @property
    def mean_query_tokens(self) -> float:
        return float(np.mean([t.query_tokens for t in self.traces])) if self.traces else math.nan

    def layer_frame(self, model: str, dataset: str) -> pd.DataFrame:
        """One row per layer: the ``cma.parquet`` contract (docs/SCHEMAS.md) plus extra columns."""
        kept = [t for t in self.traces if t.kept]
        grid = set(self.grid)
        return pd.DataFrame({
            "model": model,
            "dataset": dataset,
            "layer": np.asarray(self.layers, dtype="int64"),
            "mean_effect": self.mean_effect,
            "mean_indirect_effect": self.mean_indirect_effect,
            "mean_p_clean": float(np.mean([t.p_clean for t in kept])) if kept else math.nan,
            "mean_p_corrupt": float(np.mean([t.p_corrupt for t in kept])) if kept else math.nan,
            "mean_corruption_effect": float(np.mean([t.corruption_effect for t in kept])) if kept else math.nan,
            "n_positive_effect": np.int64(sum(t.corruption_effect > 0 for t in kept)),
            "cases_mode": self.settings.get("cases", "prediction"),
            "in_grid": [layer in grid for layer in self.layers],
            "is_golden": [layer in self.golden.ties for layer in self.layers],         # every tied layer
            "is_golden_all": [layer in self.golden_all.ties for layer in self.layers],
            "golden_tied": [layer in self.golden.ties and self.golden.tied for layer in self.layers],
            "n_cases": np.int64(self.n_cases),
            "n_kept": np.int64(len(kept)),
            "n_skipped": np.int64(self.n_skipped),
            "noise_std": self.noise_std,
            "seconds": float(self.seconds),
            "mean_query_tokens": self.mean_query_tokens,
        })

    def case_frame(self, tokenizer=None) -> pd.DataFrame:
        """One row per (case, layer): the ``cma_cases.parquet`` contract plus kept flags and tokens."""
        records = []
        for t in self.traces:
            clean_text = tokenizer.decode([t.clean_token]) if tokenizer is not None else None
            for index, layer in enumerate(self.layers):
                p_restored = float(t.p_restored[index]) if t.kept else math.nan
                records.append({
                    "case_id": t.case_id, "layer": layer, "p_restored": p_restored, "p_clean": t.p_clean,
                    "p_corrupt": t.p_corrupt if t.kept else math.nan,
                    "indirect_effect": p_restored - t.p_corrupt if t.kept else math.nan,
                    "corruption_effect": t.corruption_effect,
                    "kept": t.kept, "skip_reason": t.skip_reason, "clean_token_id": t.clean_token,
                    "clean_token": clean_text, "traced_token": clean_text,
                    "expected_token_id": t.expected_token,
                    "prediction_is_ground_truth": (t.expected_token == t.clean_token
                                                   if t.expected_token is not None else None),
                    "seconds": t.seconds,
                })
        frame = pd.DataFrame.from_records(records)
        frame["layer"] = frame["layer"].astype("int64")
        frame["expected_token_id"] = frame["expected_token_id"].astype("Int64")
        return frame


def run_cma(model, tokenizer, layout, cases, grid: Sequence[int] | None = None, noise_scale: float = 3.0,
            samples: int = 10, window: int = 10, seed: int = 0, restore: str = "mlp",
            restore_token: str = "last_subject", max_batch: int = 64, noise_std: float | None = None,
            cases_mode: str = "prediction") -> CMAResult:
    """Causal tracing of every layer of ``model`` on ``cases`` (EditCase-like: case_id, prompt, subject,
    target_true). ``grid`` (default: every layer) is where ``is_golden`` is taken. ``noise_std`` overrides
    the measured subject-embedding std (before ``noise_scale``). ``cases_mode``: ``prediction`` traces every
    case's own clean prediction; ``known`` only the cases whose ground truth starts with it."""
    if cases_mode not in CASE_MODES:
        raise ConfigError(f"unknown CMA case mode {cases_mode!r} (one of {', '.join(CASE_MODES)})", field="cma.cases")
    if not cases:
        raise InputError("no proxy cases to trace", field="cases")
    if samples < 1 or window < 0 or noise_scale < 0:
        raise ConfigError("cma: samples >= 1, window >= 0 and noise_scale >= 0 are required", field="cma")
    layers = list(range(layout.n_layers))
    grid = layers if grid is None else sorted({layout.check_layer(int(g), field="grid") for g in grid})
    training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        base_std = subject_embedding_std(model, layout, tokenizer, cases) if noise_std is None else float(noise_std)
        scale = noise_scale * base_std
        windows = [window_layers(layer, window, layout.n_layers) for layer in layers]
        traces = [_trace_one(model, tokenizer, layout, case, windows, scale, samples, seed, restore, restore_token,
                             max_batch, cases_mode) for case in cases]
    finally:
        model.train(training)
    kept = [t for t in traces if t.kept]
    if kept:
        restored = np.stack([t.p_restored for t in kept])
        mean_effect = restored.mean(axis=0)
        mean_ie = (restored - np.asarray([t.p_corrupt for t in kept])[:, None]).mean(axis=0)
    else:
        log.warning("CMA: none of the %d cases was traced (cases: %s); no golden layer", len(traces), cases_mode)
        mean_effect = mean_ie = np.full(len(layers), np.nan)
    seconds = time.perf_counter() - start
    in_grid = np.isin(layers, grid)
    golden = argmax_layers(layers, mean_effect, in_grid)
    golden_all = argmax_layers(layers, mean_effect)
    for name, g in (("grid", golden), ("all layers", golden_all)):
        if g.tied:
            log.warning("CMA golden layer over the %s is tied between layers %s (all marked; scored as their "
                        "mean)", name, g.ties)
    return CMAResult(
        layers=layers, grid=grid, traces=traces, mean_effect=mean_effect, mean_indirect_effect=mean_ie,
        golden=golden, golden_all=golden_all, noise_std=scale, seconds=seconds,
        settings={"noise_scale": noise_scale, "samples": samples, "window": window, "seed": seed,
                  "restore": restore, "restore_token": restore_token, "subject_embedding_std": base_std,
                  "grid": grid, "cases": cases_mode},
    )


def _trace_one(model, tokenizer, layout, case, windows, scale: float, samples: int, seed: int, restore: str,
               restore_token: str, max_batch: int, cases_mode: str) -> CaseTrace:
    """One case of :func:`run_cma`: its clean prediction, whether it is traced (``cases_mode``), and its trace."""
    case_start = time.perf_counter()
    device = next(model.parameters()).device
    ids, positions = subject_positions(tokenizer, case.prompt, case.subject, case.case_id)
    expected = _expected_token(tokenizer, case)
    with torch.no_grad():
        p_top, clean_token = _answer_probs(model, torch.tensor([ids], device=device), None)
    reason = _skip_reason(cases_mode, expected, clean_token)
    if reason:
        return CaseTrace(str(case.case_id), len(ids), clean_token, expected, False, reason, float(p_top[0]),
                         math.nan, np.full(layout.n_layers, np.nan), time.perf_counter() - case_start)
    noise = case_noise(seed, case.case_id, samples, len(positions), layout.hidden_size) * scale
    token, p_clean, p_corrupt, p_restored = trace_case(
        model, layout, ids, positions, noise, windows, restore, restore_token, max_batch, clean_token)
    log.debug("case %s: p_clean %.4f p_corrupt %.4f max p_restored %.4f", case.case_id, p_clean, p_corrupt,
              float(np.max(p_restored)) if len(p_restored) else math.nan)
    return CaseTrace(str(case.case_id), len(ids), token, expected, True, None, p_clean, p_corrupt, p_restored,
                     time.perf_counter() - case_start)
