"""Pre-edit evaluation, once per (model, dataset): what locality compares against, and the unedited scores.

Locality is the fraction of a locality answer's positions whose argmax is unchanged by the edit, so every edit
job needs the unedited model's argmax tokens of each case's locality queries. They depend on the model, the
case and the evaluation limits, not on the layer or the editor: the ``pre_edit`` rule computes them once per
(model, dataset) and every edit job of that dataset reads them (before, each of the (editor x layer) jobs
recomputed them).

The file also records the unedited model's rewrite, rephrase and portability accuracies per case: the edit
tables carry ``pre_rewrite_acc`` (did the model already give the new answer?), and the pre-edit file is the
baseline a reader compares the edited scores with.

Parquet columns: ``split``, ``case_id``, ``pre_rewrite_acc``, ``pre_rephrase_acc``, ``pre_portability``,
``pre_locality_tokens`` (per locality query, the argmax token ids at its answer positions). The metadata holds
the evaluation limits, which an edit job checks against its own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..errors import InputError
from .metrics import mean_or_nan, predict, token_accuracy

COLUMNS = ["split", "case_id", "pre_rewrite_acc", "pre_rephrase_acc", "pre_portability", "pre_locality_tokens"]


@dataclass
class PreEdit:
    """One case's unedited predictions."""

    rewrite_acc: float
    locality_tokens: list[torch.Tensor]
    rephrase_acc: float = float("nan")
    portability: float = float("nan")


def pre_edit_case(model, tokenizer, queries, full: bool = False) -> PreEdit:
    """The unedited rewrite accuracy and locality argmax tokens of one case (one batch: rewrite + locality);
    with ``full`` also the rephrase and portability accuracies (a second batch, so the first stays as it was)."""
    pre = predict(model, queries["rewrite"] + queries["locality"], tokenizer.pad_token_id)
    result = PreEdit(token_accuracy(pre[0], queries["rewrite"][0]), pre[1:])
    if full:
        others = queries["rephrase"] + queries["portability"]
        predicted = predict(model, others, tokenizer.pad_token_id) if others else []
        n = len(queries["rephrase"])
        result.rephrase_acc = mean_or_nan([token_accuracy(p, qa) for p, qa in zip(predicted[:n], queries["rephrase"])])
        result.portability = mean_or_nan([token_accuracy(p, qa) for p, qa in zip(predicted[n:], queries["portability"])])
    return result


def run_pre_edit_job(*, model_dir: str, cases_paths: list[str], splits: list[str], limits, out: str,
                     device: str = "auto", dtype: str = "float32") -> None:
    """The ``pre_edit`` rule: every case of the dataset's splits evaluated on the unedited model."""
    import pandas as pd
    from tqdm import tqdm

    from ..data.context_length import read_cases_for_model
    from ..io import write_parquet
    from ..models.load import load_model
    from .queries import case_queries

    model, tokenizer, _, info = load_model(model_dir, device=device, dtype=dtype)
    rows = []
    for split, path in zip(splits, cases_paths):
        for case in tqdm(read_cases_for_model(path, tokenizer, model).cases, desc=f"pre-edit {split}", unit="case",
                         mininterval=5):
            pre = pre_edit_case(model, tokenizer, case_queries(tokenizer, case, limits), full=True)
            rows.append({"split": split, "case_id": str(case.case_id), "pre_rewrite_acc": pre.rewrite_acc,
                         "pre_rephrase_acc": pre.rephrase_acc, "pre_portability": pre.portability,
                         "pre_locality_tokens": [t.tolist() for t in pre.locality_tokens]})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    write_parquet(out, frame, metadata={"eval_limits": asdict(limits), "model_revision": info["revision"]})


def read_pre_edit(path: str | Path, limits) -> dict[str, PreEdit]:
    """case id -> its :class:`PreEdit`, from a ``pre_edit`` file made with the same evaluation limits."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(str(path))
    except FileNotFoundError as err:
        raise InputError("pre-edit file not found", file=path) from err
    except Exception as err:  # a truncated or foreign file
        raise InputError(f"damaged pre-edit file ({type(err).__name__}: {err}); remove it and rerun, the pre_edit "
                         "rule rebuilds it", file=path) from err
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise InputError("not a pre-edit file (column missing)", file=path, field=missing[0])
    stored = json.loads((table.schema.metadata or {}).get(b"eval_limits", b"null") or b"null")
    if stored != asdict(limits):
        raise InputError(f"made with other evaluation limits ({stored}, this job: {asdict(limits)}); the pre_edit rule "
                         "reruns when config evaluation changes", file=path, field="evaluation")
    out = {}
    for row in table.to_pylist():
        out[str(row["case_id"])] = PreEdit(
            rewrite_acc=row["pre_rewrite_acc"],
            locality_tokens=[torch.tensor(tokens, dtype=torch.long) for tokens in row["pre_locality_tokens"]],
            rephrase_acc=row["pre_rephrase_acc"], portability=row["pre_portability"])
    return out
