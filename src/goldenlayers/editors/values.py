"""Target values as a cached stage: the value optimisation once per (case, site), shared by editors.

:func:`optimize_target` is what editors call: the stored value when the edit job has the stage's file, else
the value optimisation (:mod:`goldenlayers.editors.target_value`) through the selected compute path.

The value optimisation (ROME's ``v*``, MEMIT's ``z``) is the dominant cost of an edit, and its result depends only on the model, the case, the context prefixes,
the *site* (whose output is shifted: the MLP of layer l for ROME and R-ROME, the output of block l, the top
of the window, for MEMIT and EMMET) and the value hyperparameters (:data:`VALUE_KEYS`). ROME and R-ROME
differ only in the solve, so with equal value hyperparameters they edit from the very same ``v*``: the
workflow computes it once per (model, value key, dataset, site) in the ``target_values`` rule and every edit
job that needs it reads it. The numbers are those of computing it inside the edit job (same code, same
arithmetic; ``tests/test_values.py``).

The rule covers a chunk of sites (``mlp0-9``: the MLPs of layers 0 to 9, :mod:`goldenlayers.chunks`), so the
model is loaded once per chunk. File format: safetensors with ``<site>/<case_id>/target_init`` and
``<site>/<case_id>/delta`` (float32 vectors), and in the metadata the sites, the value hyperparameters and per
site and case the steps, final loss, target probability and seconds. An edit job that reads a value counts its seconds in the case's ``seconds`` (the cost of the edit as
if done alone, which the runtime analysis sums for brute force) and reports it as ``edit_value_seconds``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch

from ..errors import ConfigError, GoldenLayersError, InputError, is_numeric_failure
from ..io import atomic_path, stable_hash
from . import fastpath
from .request import EditContext, EditRequest
from .target_value import TargetValue, ValueProblem, optimize_target_full, value_problem

log = logging.getLogger(__name__)

# The hyperparameters the value optimisation reads (everything else only enters the solve).
VALUE_KEYS = ("fact_token", "v_num_grad_steps", "v_lr", "v_weight_decay", "clamp_norm_factor", "kl_factor",
              "v_loss_threshold", "context_template_length_params")
SITE_KINDS = ("mlp", "block")
_SITE = re.compile(r"^(mlp|block)(\d+)$")


@dataclass(frozen=True)
class ValueSite:
    """The module whose output the value optimisation shifts: ``mlp`` (the MLP of ``layer``) or ``block``
    (the whole block's output, i.e. the residual stream after ``layer``)."""

    kind: str
    layer: int

    def __post_init__(self):
        if self.kind not in SITE_KINDS:
            raise ConfigError(f"unknown value site kind {self.kind!r} (known: {', '.join(SITE_KINDS)})", field="site")

    def __str__(self) -> str:
        return f"{self.kind}{self.layer}"

    @classmethod
    def parse(cls, text: str) -> "ValueSite":
        match = _SITE.match(text)
        if not match:
            raise ConfigError(f"not a value site: {text!r} (expected mlp<layer> or block<layer>)", field="site")
        return cls(match.group(1), int(match.group(2)))

    @classmethod
    def parse_chunk(cls, text: str) -> list["ValueSite"]:
        """``mlp0-2`` -> the MLP sites of layers 0, 1 and 2 (a kind, then a chunk name of :mod:`goldenlayers.chunks`)."""
        from ..chunks import parse_chunk

        match = re.match(r"^(mlp|block)(.+)$", text)
        if not match:
            raise ConfigError(f"not a chunk of value sites: {text!r} (expected e.g. mlp0-9 or block8_18)", field="sites")
        return [cls(match.group(1), layer) for layer in parse_chunk(match.group(2), field="sites")]

    def module(self, layout) -> torch.nn.Module:
        layout.check_layer(self.layer, field="site")
        return layout.mlp(self.layer) if self.kind == "mlp" else layout.block(self.layer)


def value_hparams(hparams: dict[str, Any]) -> dict[str, Any]:
    """The part of an editor's resolved hyperparameters that the value optimisation reads."""
    missing = [k for k in VALUE_KEYS if k not in hparams]
    if missing:
        raise ConfigError(f"value hyperparameter(s) missing: {missing}", field=missing[0])
    return {k: hparams[k] for k in VALUE_KEYS}


def value_key(hparams: dict[str, Any]) -> str:
    """A short name for the value hyperparameters (part of the values file's path)."""
    return "v" + stable_hash(value_hparams(hparams), length=10)


def optimize_target(ctx: EditContext, request: EditRequest, module: torch.nn.Module) -> TargetValue:
    """The shift of ``module``'s output at the subject's last token (ROME's ``v*`` / MEMIT's ``z``).

    Read from ``ctx.values`` (the target_values stage's file) when the job has one. Otherwise optimised
    (:mod:`goldenlayers.editors.target_value`) through the path :mod:`goldenlayers.editors.fastpath` selects
    (``GOLDENLAYERS_EDIT_PATH``): ``fast`` (default) runs, per step, only the tokens from each row's
    subject-last token on and only the blocks from the edited one up, falling back to the full forward where
    it does not apply; ``reference`` runs the full batch through the whole model with full logits every step,
    as the common frameworks do. Both give the same values up to float rounding (``tests/test_fastpath.py``).
    """
    if ctx.values is not None:
        return ctx.values.lookup(ctx, request, module)
    start = time.perf_counter()
    problem = value_problem(ctx, request)
    reference = fastpath.get_mode() == "reference"
    result = None if reference else fastpath.optimize_target_fast(ctx, problem, module)
    if result is None:  # the reference path, or a model or setting the fast path does not cover
        result = optimize_target_full(ctx, problem, module, reference=reference)
    result.seconds = time.perf_counter() - start
    return result


DEFAULT_BATCH_TOKENS = 1024  # two WikiBio cases (~700 tokens each) together took 3.1 GB on SmolLM2; one fits well below
DEFAULT_STEP_TOKENS = 512  # suffix tokens fed per step of one batch (all its problems' rows): on a CPU core a 30-layer sweep
# of one CounterFact case took 133 CPU-s at 512 (6 sites side by side), 131 at 400, 145 at 200, 153 at 2048, 159 alone


def compute_values(ctx: EditContext, requests: Iterable[EditRequest], site: ValueSite, progress=None,
                   batch_tokens: int = DEFAULT_BATCH_TOKENS) -> dict[str, TargetValue]:
    """The value optimisation of each request at one ``site`` (see :func:`compute_site_values`)."""
    return compute_site_values(ctx, requests, [site], progress, batch_tokens=batch_tokens)[site]


def compute_site_values(ctx: EditContext, requests: Iterable[EditRequest], sites: list[ValueSite], progress=None,
                        batch_tokens: int = DEFAULT_BATCH_TOKENS,
                        step_tokens: int = DEFAULT_STEP_TOKENS) -> dict[ValueSite, dict[str, TargetValue]]:
    """Run the value optimisation for each request at each of ``sites``.

    On the fast path the problems (case, site) run side by side in batches
    (:func:`goldenlayers.editors.fastpath.optimize_targets_fast`): cases in order of their suffix length (the
    tokens a step feeds per row), grouped so that a group's full rows hold at most ``batch_tokens`` tokens (its
    one no-grad forward; a longer case forms a group alone), each group at as many sites together as keep a step
    within ``step_tokens`` suffix tokens. Each problem keeps its own shift, optimiser and early stop, so the values
    are the one-at-a-time values up to float rounding, while the matrix products are larger (on a CPU core, 1.2-1.4x
    less time per problem). Each value's ``seconds`` is its batch's wall time divided among the batch's problems.
    Results are keyed in the order of ``sites`` and ``requests``.
    """
    modules = {site: site.module(ctx.layout) for site in sites}
    requests = list(requests)
    check_unique_case_ids((request.case_id, None) for request in requests)
    if fastpath.get_mode() != "fast":
        batches = [[(site, request, None)] for site in sites for request in requests]
    else:
        problems = [(request, value_problem(ctx, request)) for request in requests]
        problems.sort(key=lambda item: _suffix_tokens(item[1]))
        batches = [[(site, request, problem) for site in part for request, problem in group]
                   for group in _batches(problems, batch_tokens)
                   for part in _site_parts(sites, sum(_suffix_tokens(p) * len(p.sequences) for _, p in group),
                                           step_tokens)]
    found: dict[tuple[ValueSite, str], TargetValue] = {}
    for batch in batches:
        start = time.perf_counter()
        results = None
        if len(batch) > 1:
            try:
                results = fastpath.optimize_targets_fast(ctx, [problem for _, _, problem in batch],
                                                         [modules[site] for site, _, _ in batch])
            except Exception as err:  # an overflow: redo the batch one problem at a time to find the failing ones
                if not is_numeric_failure(err):
                    raise
                results = None
            if results is not None:
                share = (time.perf_counter() - start) / len(batch)
                for result in results:
                    result.seconds = share
        if results is None:
            results = [_optimise_or_fail(ctx, request, modules[site]) for site, request, _ in batch]
        for (site, request, _), result in zip(batch, results):
            found[site, request.case_id] = result
        if progress is not None:
            progress.update(len(batch))
    return {site: {request.case_id: found[site, request.case_id] for request in requests} for site in sites}


def _suffix_tokens(problem: ValueProblem) -> int:
    """The tokens a step of the fast path feeds per row of ``problem`` (its longest row from the lookup on)."""
    return max(len(row) - lookup for row, lookup in zip(problem.sequences, problem.lookups))


def _site_parts(sites: list[ValueSite], tokens_per_site: int, step_tokens: int) -> list[list[ValueSite]]:
    """``sites`` in consecutive parts of as many as keep ``tokens_per_site`` x the part's size within ``step_tokens``
    (at least one site per part)."""
    per_part = max(1, step_tokens // max(1, tokens_per_site))
    return [sites[i:i + per_part] for i in range(0, len(sites), per_part)]


def check_unique_case_ids(ids_and_sources: Iterable[tuple[Any, str | None]]) -> None:
    """Values are keyed by case id, so a clash would overwrite one case's value with another's: raise naming
    the case and, where known, both files it came from (the proxy and test splits must be disjoint)."""
    where: dict[str, str | None] = {}
    for case_id, source in ids_and_sources:
        key = str(case_id)
        if key in where:
            files = " and ".join(dict.fromkeys(str(path) for path in (where[key], source) if path)) or "the cases"
            raise InputError(f"case id occurs twice, in {files} (the proxy and test splits must be disjoint)",
                             file=source, record=case_id, field="case_id")
        where[key] = source


def _optimise_or_fail(ctx: EditContext, request: EditRequest, module: torch.nn.Module) -> TargetValue:
    """One case's value; a numeric failure (an overflow) gives a failed value (NaN) with its reason, so the
    other cases are kept and the edit jobs record this one as failed."""
    try:
        return optimize_target(ctx, request, module)
    except Exception as err:
        if not is_numeric_failure(err):
            raise
        log.warning("case %s: value optimisation failed: %s; recorded as failed", request.case_id, err)
        nan = torch.full((ctx.layout.hidden_size,), float("nan"))
        return TargetValue(nan, nan.clone(), 0, float("nan"), float("nan"), failure=f"{type(err).__name__}: {err}")


def _batches(items: list[tuple[EditRequest, ValueProblem]], batch_tokens: int) -> list[list[tuple[EditRequest, ValueProblem]]]:
    """Consecutive (request, problem) pairs grouped so that each group's rows hold at most ``batch_tokens``
    tokens (a case longer than that forms a group of its own)."""
    batches: list[list[tuple[EditRequest, ValueProblem]]] = []
    current: list[tuple[EditRequest, ValueProblem]] = []
    used = 0
    for item in items:
        tokens = sum(len(row) for row in item[1].sequences)
        if current and used + tokens > batch_tokens:
            batches.append(current)
            current, used = [], 0
        current.append(item)
        used += tokens
    if current:
        batches.append(current)
    return batches


def save_values(path: str | os.PathLike, values_by_site: dict[ValueSite, dict[str, TargetValue]],
                hparams: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    """Write the values of one or more sites to one file (the format in the module docstring)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    cases: dict[str, dict[str, Any]] = {}
    for site, values in values_by_site.items():
        per_site = cases.setdefault(str(site), {})
        for case_id, value in values.items():
            tensors[f"{site}/{case_id}/target_init"] = value.target_init.detach().float().contiguous().cpu()
            tensors[f"{site}/{case_id}/delta"] = value.delta.detach().float().contiguous().cpu()
            per_site[case_id] = {"steps": value.steps, "final_loss": value.final_loss,
                                 "target_prob": value.target_prob, "seconds": value.seconds}
            if value.failure:
                per_site[case_id]["failure"] = value.failure
    metadata = {"sites": json.dumps([str(site) for site in values_by_site]),
                "value_hparams": json.dumps(value_hparams(hparams), sort_keys=True),
                "cases": json.dumps(cases, sort_keys=True), **{k: json.dumps(v) for k, v in (extra or {}).items()}}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


class ValueStore:
    """Precomputed target values of one or more sites, read by :func:`optimize_target` instead of optimising
    again. Guards the wiring: the site, the value hyperparameters and the case must be the ones asked for, or
    it raises naming the file."""

    def __init__(self, path: str | os.PathLike):
        from safetensors import safe_open

        self.path = Path(path)
        try:
            with safe_open(str(self.path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                self._tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        except FileNotFoundError as err:
            raise InputError("target values file not found", file=self.path) from err
        except Exception as err:  # safetensors raises its own error types for a damaged file
            raise InputError(f"damaged target values file ({type(err).__name__}: {err}); remove it and rerun, the "
                             "target_values rule rebuilds it", file=self.path) from err
        for field in ("sites", "value_hparams", "cases"):
            if field not in metadata:
                raise InputError("not a target values file (metadata field missing)", file=self.path, field=field)
        self.sites = [ValueSite.parse(text) for text in json.loads(metadata["sites"])]
        self.hparams = json.loads(metadata["value_hparams"])
        self.cases: dict[str, dict[str, Any]] = json.loads(metadata["cases"])  # site -> case id -> figures

    def failure_of(self, case_id: str, site: ValueSite) -> str | None:
        """Why the value optimisation of ``case_id`` at ``site`` failed (None if it did not, or is not here). A file
        of a chunk holds several sites: a failure at one of them fails only the edits at that site."""
        return (self.cases.get(str(site), {}).get(case_id) or {}).get("failure")

    def site_of(self, ctx: EditContext, module: torch.nn.Module) -> ValueSite:
        for site in self.sites:
            if site.module(ctx.layout) is module:
                return site
        raise GoldenLayersError(f"{self.path}: holds values of site(s) {', '.join(map(str, self.sites))}, but the "
                                "editor asks for another module; the workflow wired the wrong values file")

    def lookup(self, ctx: EditContext, request: EditRequest, module: torch.nn.Module) -> TargetValue:
        site = self.site_of(ctx, module)
        wanted = json.loads(json.dumps(value_hparams(ctx.hparams)))
        if wanted != self.hparams:
            differing = sorted(k for k in VALUE_KEYS if wanted.get(k) != self.hparams.get(k))
            raise InputError(f"computed with other value hyperparameters ({', '.join(differing)})",
                             file=self.path, field=differing[0] if differing else "value_hparams")
        case = self.cases.get(str(site), {}).get(request.case_id)
        if case is None:
            raise InputError(f"no target value for this case at {site}", file=self.path, record=request.case_id,
                             field="case_id")
        device = ctx.device
        return TargetValue(
            target_init=self._tensors[f"{site}/{request.case_id}/target_init"].to(device),
            delta=self._tensors[f"{site}/{request.case_id}/delta"].to(device),
            steps=int(case["steps"]), final_loss=float(case["final_loss"]), target_prob=float(case["target_prob"]),
            seconds=float(case["seconds"]), failure=case.get("failure"),
        )


def run_values_job(*, model_dir: str, cases_paths: list[str], sites: str, hparams: dict[str, Any],
                   templates_path: str, out: str, seed: int = 0, device: str = "auto", dtype: str = "float32",
                   batch_tokens: int = DEFAULT_BATCH_TOKENS) -> dict[ValueSite, dict[str, TargetValue]]:
    """The ``target_values`` rule: the value optimisation of every case of ``cases_paths`` (a dataset's proxy
    and test splits) at each site of the chunk ``sites`` (``mlp0-9``), the model loaded once, all written to
    ``out``. The chunk's sites run side by side (:func:`compute_site_values`): a site's values are those of
    computing it alone, up to float rounding."""
    from tqdm import tqdm

    from ..data.context_length import read_cases_for_model
    from ..models.load import load_model
    from .context import load_templates

    hparams = value_hparams(hparams)
    parsed = ValueSite.parse_chunk(sites)
    model, tokenizer, layout, info = load_model(model_dir, device=device, dtype=dtype)
    for site in parsed:
        layout.check_layer(site.layer, field="sites")
    templates = load_templates(templates_path, hparams["context_template_length_params"])
    ctx = EditContext(model, layout, tokenizer, hparams, templates)
    fitting = [read_cases_for_model(path, tokenizer, model) for path in cases_paths]
    check_unique_case_ids((case.case_id, path) for path, part in zip(cases_paths, fitting) for case in part.cases)
    requests = [EditRequest.of(case) for part in fitting for case in part.cases]
    torch.manual_seed(seed)  # (the optimisation draws no random numbers; kept for any path that would)
    with tqdm(total=len(requests) * len(parsed), desc=f"values {sites}", unit="problem", mininterval=5) as progress:
        values = compute_site_values(ctx, requests, parsed, progress, batch_tokens=batch_tokens)
    too_long = [record for part in fitting for record in part.too_long]
    save_values(out, values, hparams, extra={"model_revision": info["revision"], "seed": seed,
                                             "too_long_records": too_long})
    return values
