"""EMMET (Gupta et al., 2024, "A Unified Framework for Model Editing"): equality-constrained mass editing.

EMMET solves  min ||W K0 - W0 K0||  subject to  W K_E = V_E  (the edited keys map exactly to their values)
instead of MEMIT's least-squares trade-off. With C' = mom2_update_weight * C + update_norm_lambda * I
(C = E[k k^T] of the projection inputs) its closed form, as the method's own code computes it
(scalable-model-editing/unified-model-editing, ``emmet/emmet_main.py``; also EasyEdit's
``easyeditor/models/emmet/emmet_main.py``), is

    D  = K_E^T C'^{-1} K_E  (+ emmet_lambda * I when more than one fact is edited: D is then ill-conditioned)
    dW = R D^{-1} K_E^T C'^{-1}

with R the residual per layer. Keys, the target z and the spread of the residual over the window of layers
are MEMIT's (same code as :mod:`goldenlayers.editors.memit`). For one fact D is the scalar k^T C'^{-1} k and
the update is rank one:

    dW = r (C'^{-1} k)^T / (k^T C'^{-1} k)        so that  (W + dW) k = W k + r  exactly.

Where the sources disagree: the method's repository has both behaviours in its history (commit 2f7c65c
adds ``emmet_lambda`` to D only for batches, ``if D.shape[0] > 1``; commit ac0cb39 always adds it), and EasyEdit
always adds it. Added to a single fact's scalar D it makes a single edit write only the share
q / (q + emmet_lambda) of the residual, q = k^T C'^{-1} k, which with EasyEdit's LLaMA-7B weight 100000 on a
1536-wide MLP is a small share (why EasyEdit's EMMET hardly edits SmolLM2). We follow the method's definition
(an equality constraint; for one fact EMMET is ROME's equality-constrained update) and the 2f7c65c code: no
``emmet_lambda`` for one fact. The hyperparameter ``emmet_lambda_single_edit: true`` gives the other variant.
For one fact with the default ``mom2_update_weight`` cancels out unless ``update_norm_lambda`` > 0 or the
variant is on; its relative form ``"<x>*d"`` is the same rule as MEMIT's (see :func:`memit.resolve_update_weight`).
"""

from __future__ import annotations

import torch

from .memit import MEMIT, resolve_update_weight


class EMMET(MEMIT):
    name = "emmet"

    def solve(self, key: torch.Tensor, residual: torch.Tensor, second_moment: torch.Tensor, hparams) -> tuple[torch.Tensor, dict]:
        d_in = second_moment.shape[0]
        weight = resolve_update_weight(hparams["mom2_update_weight"], d_in)
        system = weight * second_moment
        norm_lambda = float(hparams.get("update_norm_lambda", 0.0))
        if norm_lambda:
            system = system + norm_lambda * torch.eye(d_in, dtype=system.dtype, device=system.device)
        whitened = torch.linalg.solve(system, key)  # C'^{-1} k
        d = float(key @ whitened)
        if hparams.get("emmet_lambda_single_edit", False):
            d += float(hparams.get("emmet_lambda", 0.0))
        update = torch.outer(residual, whitened / d)
        return update, {"lambda": weight, "written": float(key @ whitened) / d}
