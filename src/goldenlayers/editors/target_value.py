"""The target value: ROME's ``v*``, MEMIT's ``z``; the value problem, its batching and the optimisation loop.

A vector ``delta`` is added to a module's output at the subject's last token (the *lookup*) and optimised so
that the model predicts ``target_new`` after every prefixed prompt, while the next-token distribution after
"{subject} is a" stays close:

    loss = mean over prefixed prompts of the mean NLL of the target tokens (teacher forced)
         + kl_factor * KL(original || edited) at the subject's last token of "{subject} is a"
         + v_weight_decay * ||delta|| / ||target_init||^2

Adam with ``v_lr`` for at most ``v_num_grad_steps`` steps, stopping once the loss is below
``v_loss_threshold``; after each step delta is clamped to ``clamp_norm_factor * ||target_init||``.

- :class:`ValueProblem`: one case's batch in token ids and positions (path independent);
  :class:`ProblemBatch`: several cases side by side, each with its own shift, optimiser and early stop;
- :func:`run_value_optimisations`: the loop every compute path shares (a path only says how logits are made);
- :func:`optimize_target_full`: the full-forward paths (``reference``: full logits at every position, as
  the common frameworks do). The fast path is :mod:`goldenlayers.editors.fastpath`; the choice between them
  and the stored values, :func:`goldenlayers.editors.values.optimize_target`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ..models.hooks import hooks, main_output, with_main_output
from ..models.tokens import output_logits, pad_batch
from .keys import fill, subject_last_index
from .request import EditContext, EditRequest

KL_TEMPLATE = "{} is a"


@dataclass
class TargetValue:
    """Result of the value optimisation at one module: the original output and the optimised shift."""

    target_init: torch.Tensor
    delta: torch.Tensor
    steps: int
    final_loss: float
    target_prob: float
    info: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # wall time of the optimisation (kept when the value is stored and read back)
    failure: str | None = None  # why the optimisation failed (an overflow): the case is recorded as failed


def value_info(value: TargetValue) -> dict[str, float]:
    """The value optimisation's figures every editor reports (``edit_*`` columns of the edit table)."""
    return {"v_steps": value.steps, "v_loss": value.final_loss, "v_prob": value.target_prob,
            "v_delta_norm": float(value.delta.norm()), "value_seconds": value.seconds}


def target_token_ids(tokenizer, target: str) -> list[int]:
    """Tokens of the new target as it follows a prompt (with its leading space)."""
    ids = tokenizer(" " + target.strip(), add_special_tokens=False).input_ids
    if not ids:
        raise ValueError(f"target {target!r} has no tokens")
    return ids


# ------------------------------------------------------------------------------------------- the problem


@dataclass
class ValueProblem:
    """The batch the value optimisation runs on, in token ids and positions (path independent).

    Rows 0..n_rewrite-1 are the prefixed prompts followed by the target tokens but the last (teacher forcing),
    the last row is "{subject} is a" (the KL prompt). ``lookups[row]`` is where the shift is added,
    ``target_pos[i]`` the position whose logits predict ``target_tok[i]`` of row ``target_rows[i]``.
    """

    sequences: list[tuple[int, ...]]
    lookups: list[int]
    target_rows: list[int]
    target_pos: list[int]
    target_tok: list[int]
    n_target: int

    @property
    def n_rewrite(self) -> int:
        return len(self.sequences) - 1

    @property
    def kl_row(self) -> int:
        return len(self.sequences) - 1


def value_problem(ctx: EditContext, request: EditRequest) -> ValueProblem:
    hp, tok = ctx.hparams, ctx.tokenizer
    target_ids = target_token_ids(tok, request.target_new)
    sequences, lookups, target_rows, target_pos, target_tok = [], [], [], [], []
    for row, template in enumerate(ctx.templates):
        prompt_template = request.under(template)
        prompt_ids = tok(fill(prompt_template, request.subject)).input_ids
        sequences.append(tuple(prompt_ids) + tuple(target_ids[:-1]))
        lookups.append(subject_last_index(tok, prompt_template, request.subject, hp["fact_token"]))
        for offset, token in enumerate(target_ids):
            target_rows.append(row)
            target_pos.append(len(prompt_ids) - 1 + offset)
            target_tok.append(token)
    sequences.append(tuple(tok(fill(KL_TEMPLATE, request.subject)).input_ids))
    lookups.append(subject_last_index(tok, KL_TEMPLATE, request.subject, hp["fact_token"]))
    return ValueProblem(sequences, lookups, target_rows, target_pos, target_tok, len(target_ids))


def block_index_of(layout, module: nn.Module) -> int | None:
    """Index of the block that is or contains ``module`` (None if no block does)."""
    for index, block in enumerate(layout.blocks):
        if block is module or any(sub is module for sub in block.modules()):
            return index
    return None


def shift_is_unread(ctx: EditContext, problem: ValueProblem, module: nn.Module) -> bool:
    """True when the loss cannot depend on the shift at all except through the KL row's own lookup: the
    module sits in the last block (no attention after it carries the shift to later positions) and no
    target is read at its row's lookup. Then the exact gradient is zero at delta = 0 (the KL term is at its
    minimum there), so the exact Adam trajectory never leaves delta = 0; in floating point the gradient is
    pure rounding noise (~1e-10) that Adam's normalisation would blow up to lr-sized steps, different in
    every compute path and thread count. We return the exact answer instead."""
    if block_index_of(ctx.layout, module) != ctx.layout.n_layers - 1:
        return False
    return all(pos != problem.lookups[row] for row, pos in zip(problem.target_rows, problem.target_pos))


@dataclass
class ProblemBatch:
    """Several cases' value problems as one batch of rows (case after case), optimised side by side.

    Each case keeps its own shift, Adam state, loss, clamp and early stop; rows of different cases never
    interact (each row is its own sequence), so the loss of one case does not depend on another case's shift
    and the result is each case's own optimisation, up to float rounding in the larger matrix products.
    Logits are read in this order: every target (``target_rows``/``target_pos``, case after case), then each
    case's KL row at its lookup (``kl_rows``).
    """

    problems: list[ValueProblem]
    sequences: list[tuple[int, ...]]
    lookups: list[int]
    row_case: list[int]
    target_rows: list[int]
    target_pos: list[int]
    target_tok: list[int]
    kl_rows: list[int]

    @classmethod
    def of(cls, problems: list[ValueProblem]) -> "ProblemBatch":
        sequences, lookups, row_case, target_rows, target_pos, target_tok, kl_rows = [], [], [], [], [], [], []
        for case, problem in enumerate(problems):
            offset = len(sequences)
            sequences += problem.sequences
            lookups += problem.lookups
            row_case += [case] * len(problem.sequences)
            target_rows += [offset + row for row in problem.target_rows]
            target_pos += problem.target_pos
            target_tok += problem.target_tok
            kl_rows.append(offset + problem.kl_row)
        return cls(list(problems), sequences, lookups, row_case, target_rows, target_pos, target_tok, kl_rows)


# ----------------------------------------------------------------------------------------------- the loop


@dataclass
class _BatchIndex:
    """A :class:`ProblemBatch`'s index tensors, built once before the loop."""

    rows: torch.Tensor          # every row
    row_case: torch.Tensor      # per row: its case
    target_rows: torch.Tensor   # per target token: its row
    target_tok: torch.Tensor    # per target token: the token
    row_n_target: torch.Tensor  # per row: its case's number of target tokens
    rewrite_rows: torch.Tensor  # every row but the KL rows
    rewrite_case: torch.Tensor  # per rewrite row: its case
    n_rewrite: torch.Tensor     # per case: its number of rewrite rows
    first_rows: list[int]       # per case: its first row

    @classmethod
    def of(cls, batch: ProblemBatch, device) -> "_BatchIndex":
        row_case = torch.tensor(batch.row_case, device=device)
        kl_rows = set(batch.kl_rows)
        rewrite_rows = torch.tensor([row for row in range(len(batch.sequences)) if row not in kl_rows], device=device)
        return cls(
            rows=torch.arange(len(batch.sequences), device=device), row_case=row_case,
            target_rows=torch.tensor(batch.target_rows, device=device),
            target_tok=torch.tensor(batch.target_tok, device=device),
            row_n_target=torch.tensor([float(batch.problems[c].n_target) for c in batch.row_case], device=device),
            rewrite_rows=rewrite_rows, rewrite_case=row_case[rewrite_rows],
            n_rewrite=torch.tensor([float(p.n_rewrite) for p in batch.problems], device=device),
            first_rows=[batch.row_case.index(c) for c in range(len(batch.problems))],
        )

    @property
    def n_targets(self) -> int:
        return len(self.target_rows)


@dataclass
class BatchView:
    """What one compute path feeds the model for some of a batch's problems (after others stopped, only the ones still
    optimising): ``problems`` (indices into the batch), the :class:`ProblemBatch` of their rows in the order fed,
    ``shift_positions[row]`` (where in that layout each row's lookup sits) and ``read_logits()`` (the model run with
    the shift hooks active: the logits of every target, then each problem's KL row, in the view's batch order)."""

    problems: list[int]
    batch: "ProblemBatch"
    shift_positions: torch.Tensor
    read_logits: Callable[[], torch.Tensor]


class _Shifts:
    """Per problem a shift ``delta`` and its Adam optimiser. :meth:`hook` (one per module) adds the shift of each
    problem at that module to its rows' ``shift_positions`` entries of the current view, and records the module's
    original output there (``target_init``) on its first call. A module's output may hold only the view's first rows
    (a compute path that feeds a block only the rows that have reached it): the view orders its rows so that every
    module's rows come before those it has not reached."""

    def __init__(self, ctx: EditContext, modules: list[nn.Module]):
        self.modules = modules
        self.deltas = [torch.zeros(ctx.layout.hidden_size, device=ctx.device, dtype=torch.float32, requires_grad=True)
                       for _ in modules]
        self.optimizers = [torch.optim.Adam([delta], lr=ctx.hparams["v_lr"]) for delta in self.deltas]
        self.target_init: list[torch.Tensor | None] = [None] * len(modules)
        self.at: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[tuple[int, int, int]]]] = {}

    def use(self, view: BatchView, index: "_BatchIndex") -> None:
        """Where the hooks add each problem's shift in ``view``: per module its rows, their positions and problems,
        and each problem's first row (whose original output is its ``target_init``)."""
        row_problem = [view.problems[case] for case in view.batch.row_case]
        firsts = {view.problems[case]: row for case, row in enumerate(index.first_rows)}
        self.at = {}
        for key, module in {id(m): m for m in self.modules}.items():
            rows = [row for row, problem in enumerate(row_problem) if self.modules[problem] is module]
            device = view.shift_positions.device
            self.at[key] = (torch.tensor(rows, dtype=torch.long, device=device), view.shift_positions[rows],
                            torch.tensor([row_problem[row] for row in rows], dtype=torch.long, device=device),
                            [(problem, row, int(view.shift_positions[row])) for problem, row in firsts.items()
                             if self.modules[problem] is module])

    def hook(self, module, _inputs, output):
        rows, positions, problems, firsts = self.at[id(module)]
        if not len(rows):
            return output
        hidden = main_output(output)
        for problem, row, position in firsts:
            if self.target_init[problem] is None:
                self.target_init[problem] = hidden[row, position].detach().float().clone()
        shift = torch.zeros_like(hidden)
        shift[rows, positions] = torch.stack(self.deltas)[problems].to(hidden.dtype)
        return with_main_output(output, hidden + shift)

    def step(self, problems: list[int], max_norms: dict[int, torch.Tensor]) -> None:
        """One Adam step of each of ``problems``, then its shift clamped to its ``max_norms`` entry."""
        for problem in problems:
            self.optimizers[problem].step()
            with torch.no_grad():
                if self.deltas[problem].norm() > max_norms[problem]:
                    self.deltas[problem].mul_(max_norms[problem] / self.deltas[problem].norm())


def _losses(log_probs: torch.Tensor, index: _BatchIndex, kl_init: torch.Tensor, deltas: list[torch.Tensor],
            target_norms: torch.Tensor, hp) -> tuple[torch.Tensor, list[float]]:
    """Per problem of a view: the loss (NLL + KL + weight decay, see the module docstring) and the mean probability
    of the target over its rewrite rows."""
    n_targets, device = index.n_targets, log_probs.device
    token_lp = log_probs[:n_targets].gather(1, index.target_tok.unsqueeze(1)).squeeze(1)
    nll_rows = -torch.zeros(len(index.rows), device=device).index_add(0, index.target_rows, token_lp) / index.row_n_target
    nll_rewrite = nll_rows[index.rewrite_rows]
    n_cases = len(deltas)
    nll = torch.zeros(n_cases, device=device).index_add(0, index.rewrite_case, nll_rewrite) / index.n_rewrite
    kl_lp = log_probs[n_targets:]
    kl = hp["kl_factor"] * (kl_lp.exp() * (kl_lp - kl_init)).sum(-1)
    decay = hp["v_weight_decay"] * torch.stack([d.norm() for d in deltas]) / target_norms ** 2
    probs = torch.zeros(n_cases, device=device).index_add(0, index.rewrite_case, torch.exp(-nll_rewrite.detach()))
    return nll + kl + decay, (probs / index.n_rewrite).tolist()


def run_value_optimisation(ctx: EditContext, problem: ValueProblem, module: nn.Module, shift_positions: torch.Tensor,
                           read_logits: Callable[[], torch.Tensor]) -> TargetValue:
    """The optimisation loop of one problem through one fixed view (see :func:`run_value_optimisations`)."""
    batch = ProblemBatch.of([problem])
    view = BatchView([0], batch, shift_positions, read_logits)
    return run_value_optimisations(ctx, batch, [module], lambda problems: view)[0]


def run_value_optimisations(ctx: EditContext, batch: ProblemBatch, modules: list[nn.Module],
                            view_of: Callable[[list[int]], BatchView]) -> list[TargetValue]:
    """The optimisation loop shared by every compute path (so the paths differ only in how logits are made).

    ``modules[i]`` is the module whose output problem ``i`` of ``batch`` shifts (problems may shift different
    modules: a layer sweep side by side). ``view_of(problems)`` gives what the path feeds the model for those
    problems (:class:`BatchView`); it is asked again whenever problems stop, and may return a view of the remaining
    ones only (rows of stopped problems then cost nothing more) or keep feeding them all (then its ``problems`` says
    which). Every problem has its own shift and Adam optimiser and stops on its own (loss below
    ``v_loss_threshold``, or the last step); a stopped problem's shift stays as it was when it stopped.
    """
    hp = ctx.hparams
    last_step = hp["v_num_grad_steps"] - 1
    shifts = _Shifts(ctx, modules)
    frozen = [shift_is_unread(ctx, p, m) for p, m in zip(batch.problems, modules)]
    results: list[TargetValue | None] = [None] * len(batch.problems)
    active = list(range(len(batch.problems)))
    kl_init: dict[int, torch.Tensor] = {}
    view, index = None, None
    with hooks([(module, shifts.hook) for module in {id(m): m for m in modules}.values()]):
        for step in range(hp["v_num_grad_steps"]):
            if view is None or len(view.problems) > len(active):  # (active only shrinks)
                candidate = view_of(active)
                if view is None or candidate is not view:
                    view, index = candidate, _BatchIndex.of(candidate.batch, ctx.device)
                    shifts.use(view, index)
            for problem in active:
                shifts.optimizers[problem].zero_grad()
            log_probs = torch.log_softmax(view.read_logits().float(), dim=-1)
            kl_lp = log_probs[index.n_targets:]
            for case, problem in enumerate(view.problems):
                if problem not in kl_init:
                    kl_init[problem] = kl_lp[case].detach().clone()
            kl_view = torch.stack([kl_init[problem] for problem in view.problems])
            target_norms = torch.stack([shifts.target_init[problem] for problem in view.problems]).norm(dim=-1)
            deltas = [shifts.deltas[problem] for problem in view.problems]
            losses, probs = _losses(log_probs, index, kl_view, deltas, target_norms, hp)
            loss_values = losses.detach().tolist()
            going, going_cases = [], []
            for case, problem in enumerate(view.problems):
                if problem not in active:
                    continue
                done = loss_values[case] < hp["v_loss_threshold"] or step == last_step
                if done or frozen[problem]:  # frozen: delta stays 0 and the loss stays put (see shift_is_unread)
                    steps = hp["v_num_grad_steps"] if frozen[problem] and not done else step + 1
                    results[problem] = TargetValue(shifts.target_init[problem].clone(),
                                                   shifts.deltas[problem].detach().clone(),
                                                   steps, loss_values[case], probs[case])
                else:
                    going.append(problem)
                    going_cases.append(case)
            active = going
            if not active:
                break
            losses[going_cases].sum().backward()
            norms = {problem: hp["clamp_norm_factor"] * target_norms[case] for case, problem in enumerate(view.problems)}
            shifts.step(active, norms)
    return results  # type: ignore[return-value]


# ------------------------------------------------------------------------------------- full-forward paths


def optimize_target_full(ctx: EditContext, problem: ValueProblem, module: nn.Module, reference: bool = False) -> TargetValue:
    """Every step runs the whole padded batch through the whole model.

    Logits only at the positions the loss reads; with ``reference``, the full logits at every position
    (``model(...).logits``, as EasyEdit/ROME's ``compute_v`` does), the read positions picked from them.
    """
    device = ctx.device
    ids, mask = pad_batch(problem.sequences, ctx.tokenizer.pad_token_id, device)
    target_rows_t = torch.tensor(problem.target_rows, device=device)
    target_pos_t = torch.tensor(problem.target_pos, device=device)
    kl_row, kl_pos = problem.kl_row, problem.lookups[problem.kl_row]

    def read_logits():
        if reference:
            logits = ctx.model(input_ids=ids, attention_mask=mask).logits
            return torch.cat([logits[target_rows_t, target_pos_t], logits[kl_row, kl_pos].unsqueeze(0)])
        hidden = ctx.model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
        picked = torch.cat([hidden[target_rows_t, target_pos_t], hidden[kl_row, kl_pos].unsqueeze(0)])
        return output_logits(ctx.model, picked)

    return run_value_optimisation(ctx, problem, module, torch.tensor(problem.lookups, device=device), read_logits)
