"""Second moments C = E[k k^T] of the rewritten MLP projection's inputs k, over the tokens of a text corpus.

ROME (with ``mom2_adjustment``), MEMIT and EMMET weigh their updates by this matrix, which stands for the
keys the edit must leave alone. As in ROME/MEMIT's ``layer_stats`` (its ``SecondMoment``), it is the
*uncentred* mean of k k^T over every non-pad token position of the corpus texts, each text truncated to
``max_length`` tokens (so a long-context model such as Gemma3 cannot blow memory). Unlike the anchors we
accumulate in float64 whatever the storage dtype, and the file records the corpus (name and sha256), the
number of texts and tokens, the dtype, the layer and the model revision.

File: one tensor ``second_moment`` of shape (d_in, d_in), string metadata as above; the workflow's path
is ``STATS_FILE`` in ``workflow/rules/functions/stats.smk`` (docs/SCHEMAS.md). :func:`load_second_moment` validates it.

Unit of work: one layer per job (the DAG unit is (model, layer)) so a layer added to the grid, or a
window, computes only the files it lacks, and layers run in parallel on a cluster; each job's forward
pass stops right after its layer, so layer l costs (l + 1) / n_layers of a full pass.
:func:`compute_second_moments` also takes several layers and fills them all in one pass (hooks on every
requested layer, stopping after the deepest), which the CLI exposes for interactive use.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable

import torch

from ..errors import InputError
from ..io import atomic_path
from ..models.hooks import forward_until, hooks
from ..models.tokens import pad_batch

log = logging.getLogger(__name__)

TENSOR_NAME = "second_moment"
REQUIRED_METADATA = ("corpus", "corpus_sha256", "n_texts", "n_tokens", "dtype", "layer", "model_revision")
STORE_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _token_batches(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Text indices grouped into batches of at most ``max_tokens`` padded tokens, longest texts first."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, current, width = [], [], 0
    for index in order:
        new_width = max(width, lengths[index])
        if current and new_width * (len(current) + 1) > max_tokens:
            batches.append(current)
            current, new_width = [], lengths[index]
        current.append(index)
        width = new_width
    if current:
        batches.append(current)
    return batches


@torch.no_grad()
def compute_second_moments(model, tokenizer, layout, texts: Iterable[str], layers: list[int], max_length: int = 256,
                           max_batch_tokens: int = 4096, progress: bool = False) -> tuple[dict[int, torch.Tensor], int]:
    """({layer: E[k k^T] in float64}, number of token positions) for the projection inputs at ``layers``.

    Every non-pad position of every text (truncated to ``max_length`` tokens) counts once. The forward pass
    stops at the deepest requested layer's projection, once its inputs are counted.
    """
    layers = sorted({layout.check_layer(l) for l in layers})
    device = next(model.parameters()).device
    encoded = [tokenizer(text, truncation=True, max_length=max_length).input_ids for text in texts]
    encoded = [ids for ids in encoded if ids]
    if not encoded:
        raise InputError("no tokens in the corpus texts", field="stats")
    d_in = layout.intermediate_size
    sums = {l: torch.zeros(d_in, d_in, dtype=torch.float64, device=device) for l in layers}
    state: dict[str, torch.Tensor] = {}

    def accumulate(layer):
        def hook(_module, inputs):
            keys = inputs[0][state["mask"]].to(torch.float64)  # (tokens, d_in), pad positions dropped
            sums[layer].addmm_(keys.T, keys)
        return hook

    n_tokens = 0
    batches = _token_batches([len(ids) for ids in encoded], max_batch_tokens)
    iterator = batches
    if progress:
        from tqdm import tqdm

        iterator = tqdm(batches, desc=f"second moments L{layers}", unit="batch", mininterval=10)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    deepest = layout.rewrite_module(layers[-1])
    with hooks([(layout.rewrite_module(l), accumulate(l)) for l in layers], pre=True):
        for batch in iterator:
            ids, mask = pad_batch([encoded[i] for i in batch], pad_id, device)
            state["mask"] = mask.bool()
            n_tokens += int(mask.sum())
            forward_until(deepest, lambda: model.base_model(input_ids=ids, attention_mask=mask), pre=True)
    return {l: (s / n_tokens).cpu() for l, s in sums.items()}, n_tokens


def save_second_moment(path: str | os.PathLike, second_moment: torch.Tensor, *, dtype: str, metadata: dict) -> None:
    """Write one statistics file atomically: tensor ``second_moment`` in ``dtype`` plus string metadata."""
    from safetensors.torch import save_file

    if dtype not in STORE_DTYPES:
        raise InputError(f"unknown statistics dtype {dtype!r} (known: {', '.join(STORE_DTYPES)})", field="stats.dtype")
    meta = {str(k): str(v) for k, v in metadata.items()}
    meta["dtype"] = dtype
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise ValueError(f"statistics metadata lacks {missing}")
    tensor = second_moment.detach().to(STORE_DTYPES[dtype]).contiguous().cpu()
    with atomic_path(path) as tmp:
        save_file({TENSOR_NAME: tensor}, str(tmp), metadata=meta)


def read_stats_file(path: str | os.PathLike) -> tuple[torch.Tensor, dict[str, str]]:
    """(second moment, metadata) of a statistics file; any defect is an InputError naming the file."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise InputError("covariance statistics file is missing", file=path, field="stats")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            if TENSOR_NAME not in handle.keys():
                raise InputError(f"no tensor '{TENSOR_NAME}' in the statistics file", file=path, field=TENSOR_NAME)
            tensor = handle.get_tensor(TENSOR_NAME)
    except InputError:
        raise
    except Exception as err:  # safetensors raises its own error types for truncated/corrupted headers or data
        raise InputError(f"corrupted or truncated statistics file ({type(err).__name__}: {err}); delete it and "
                         "rerun the layer_stats rule", file=path, field="stats") from err
    missing = [k for k in REQUIRED_METADATA if k not in metadata]
    if missing:
        raise InputError(f"statistics file lacks metadata {missing}", file=path, field="stats")
    if tensor.ndim != 2 or tensor.shape[0] != tensor.shape[1] or tensor.shape[0] == 0:
        raise InputError(f"second moment must be a square matrix, got shape {tuple(tensor.shape)}", file=path,
                         field=TENSOR_NAME)
    if not torch.isfinite(tensor).all():
        raise InputError("second moment has non-finite entries", file=path, field=TENSOR_NAME)
    diag = torch.diagonal(tensor)
    scale = float(diag.abs().max()) or 1.0
    if (diag < -1e-6 * scale).any() or float((tensor - tensor.T).abs().max()) > 1e-3 * scale:
        raise InputError("second moment is not symmetric positive semi-definite", file=path, field=TENSOR_NAME)
    return tensor, metadata


def load_second_moment(path: str | os.PathLike) -> torch.Tensor:
    """The validated second moment E[k k^T] stored in ``path`` (float32 or float64 as stored)."""
    return read_stats_file(path)[0]


def effective_rank(second_moment: torch.Tensor) -> float:
    """tr(C^+ C): the number of key directions the statistics cover (d_in unless the corpus is too small).

    For C = E[k k^T], the mean over the corpus tokens of k^T C^+ k equals this number exactly, which is what
    the relative ``mom2_update_weight`` rule keys on (see :mod:`goldenlayers.editors.memit`).
    """
    eig = torch.linalg.eigvalsh(second_moment.to(torch.float64))
    tol = float(eig.max()) * eig.numel() * torch.finfo(torch.float64).eps
    return float((eig > tol).sum())


def layer_stats(model_dir: str, corpus_path: str, layers: list[int], out_paths: dict[int, str], *, corpus: str,
                n_samples: int, max_length: int = 256, dtype: str = "float32", device: str = "auto",
                model_dtype: str = "float32", max_batch_tokens: int = 4096) -> dict[int, dict]:
    """Compute and write the statistics files of ``layers`` of one model (one forward pass). Returns metadata."""
    from ..io import sha256_file
    from ..models.load import load_model
    from .corpus import read_corpus

    model, tokenizer, layout, info = load_model(model_dir, device=device, dtype=model_dtype)
    texts = read_corpus(corpus_path, n_samples)
    corpus_sha = sha256_file(corpus_path)
    if len(texts) < n_samples:
        log.warning("corpus %s has %d texts, fewer than n_samples=%d: all are used", corpus_path, len(texts), n_samples)
    moments, n_tokens = compute_second_moments(model, tokenizer, layout, texts, layers, max_length, max_batch_tokens,
                                               progress=True)
    written = {}
    for layer, moment in moments.items():
        meta = {
            "corpus": corpus, "corpus_sha256": corpus_sha, "n_texts": len(texts), "n_samples": n_samples,
            "n_tokens": n_tokens, "max_length": max_length, "dtype": dtype, "accumulated_in": "float64",
            "layer": layer, "module": layout.rewrite_module_name(layer), "d_in": moment.shape[0],
            "model_revision": info["revision"], "model": info.get("name", ""),
            "trace": f"{float(torch.trace(moment)):.6g}",
        }
        if n_tokens < moment.shape[0]:
            log.warning("layer %d: %d tokens < %d key dimensions: the second moment is rank deficient", layer,
                        n_tokens, moment.shape[0])
        save_second_moment(out_paths[layer], moment, dtype=dtype, metadata=meta)
        written[layer] = meta
        log.info("layer %d: second moment of %s over %d tokens of %d texts -> %s", layer,
                 meta["module"], n_tokens, len(texts), out_paths[layer])
    return written
