"""The shared core of the locate-then-edit editors (ROME, R-ROME, MEMIT, EMMET).

Three pieces every editor uses, in the methods' own terms:
- keys: the input of the rewritten MLP projection at the subject's last token (``subject_last``), on the
  edit prompt with and without the seeded context prefixes;
- the target value: a vector ``delta`` added to a module's output at the subject's last token and optimised
  so the model predicts ``target_new`` after every prefixed prompt (negative log-likelihood), while the
  distribution after "{subject} is a" stays close (KL term), with ROME's weight decay and norm clamp, and
  early stopping at the method's own loss threshold;
- the solve: each editor turns keys and values into an update of the projection weight (in the editor's
  own module).
Everything is architecture-agnostic: modules come from :class:`~goldenlayers.models.layout.ModelLayout`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from ..evaluate.tokens import output_logits, pad_batch


@dataclass(frozen=True)
class EditRequest:
    prompt: str
    subject: str
    target_new: str
    case_id: str = ""

    @property
    def prompt_template(self) -> str:
        """The prompt with the subject's first occurrence replaced by ``{}``."""
        start = self.prompt.find(self.subject)
        if start < 0:
            raise ValueError(f"subject {self.subject!r} does not occur in prompt {self.prompt!r}")
        return self.prompt[:start] + "{}" + self.prompt[start + len(self.subject):]


@dataclass
class EditContext:
    """What an editor needs besides the request: the model, its layout, settings and shared inputs."""

    model: nn.Module
    layout: Any
    tokenizer: Any
    hparams: dict[str, Any]
    templates: list[str]
    second_moment: Callable[[int], torch.Tensor] | None = None  # layer -> E[k k^T] of the projection inputs
    values: Any = None  # a values.ValueStore: precomputed target values, read instead of optimising again

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


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


class _StopForward(Exception):
    pass


def _hidden(output):
    return output[0] if isinstance(output, tuple) else output


def _with_hidden(output, hidden):
    return (hidden,) + tuple(output[1:]) if isinstance(output, tuple) else hidden


def fill(template: str, subject: str) -> str:
    return template.replace("{}", subject, 1)


def subject_last_index(tokenizer, template: str, subject: str, fact_token: str = "subject_last") -> int:
    """Index of the token where the fact is looked up: the subject's last token (or the prompt's last)."""
    if fact_token == "last":
        return len(tokenizer(fill(template, subject)).input_ids) - 1
    prefix = template[: template.index("{}")]
    return len(tokenizer(prefix + subject).input_ids) - 1


def target_token_ids(tokenizer, target: str) -> list[int]:
    """Tokens of the new target as it follows a prompt (with its leading space)."""
    ids = tokenizer(" " + target.strip(), add_special_tokens=False).input_ids
    if not ids:
        raise ValueError(f"target {target!r} has no tokens")
    return ids


def projection_io_at(ctx: EditContext, layer: int, texts: list[str], positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, outputs) of the rewritten projection of ``layer`` at ``positions`` of each text.

    The forward pass stops right after that module, so upper layers cost nothing.
    """
    module = ctx.layout.rewrite_module(layer)
    captured: dict[str, torch.Tensor] = {}
    rows = torch.arange(len(texts))

    def hook(_module, inputs, output):
        captured["in"] = inputs[0][rows, positions].detach()
        captured["out"] = _hidden(output)[rows, positions].detach()
        raise _StopForward

    ids, mask = pad_batch([tuple(ctx.tokenizer(t).input_ids) for t in texts], ctx.tokenizer.pad_token_id, ctx.device)
    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            ctx.model.base_model(input_ids=ids, attention_mask=mask)
    except _StopForward:
        pass
    finally:
        handle.remove()
    return captured["in"], captured["out"]


def keys_over_templates(ctx: EditContext, request: EditRequest, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Projection inputs/outputs at the subject's last token of the prompt under each context template."""
    texts, positions = [], []
    for template in ctx.templates:
        prompt_template = template.replace("{}", request.prompt_template, 1)
        texts.append(fill(prompt_template, request.subject))
        positions.append(subject_last_index(ctx.tokenizer, prompt_template, request.subject, ctx.hparams["fact_token"]))
    return projection_io_at(ctx, layer, texts, positions)


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
        prompt_template = template.replace("{}", request.prompt_template, 1)
        prompt_ids = tok(fill(prompt_template, request.subject)).input_ids
        sequences.append(tuple(prompt_ids) + tuple(target_ids[:-1]))
        lookups.append(subject_last_index(tok, prompt_template, request.subject, hp["fact_token"]))
        for offset, token in enumerate(target_ids):
            target_rows.append(row)
            target_pos.append(len(prompt_ids) - 1 + offset)
            target_tok.append(token)
    kl_template = "{} is a"
    sequences.append(tuple(tok(fill(kl_template, request.subject)).input_ids))
    lookups.append(subject_last_index(tok, kl_template, request.subject, hp["fact_token"]))
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


def run_value_optimisation(
    ctx: EditContext,
    problem: ValueProblem,
    module: nn.Module,
    shift_positions: torch.Tensor,
    read_logits: Callable[[], torch.Tensor],
) -> TargetValue:
    """The optimisation loop of one case (see :func:`run_value_optimisations`)."""
    return run_value_optimisations(ctx, ProblemBatch.of([problem]), module, shift_positions, read_logits)[0]


def run_value_optimisations(
    ctx: EditContext,
    batch: ProblemBatch,
    module: nn.Module,
    shift_positions: torch.Tensor,
    read_logits: Callable[[], torch.Tensor],
) -> list[TargetValue]:
    """The optimisation loop shared by every compute path (so the paths differ only in how logits are made).

    ``read_logits()`` runs the model with the shift hook on ``module`` active and returns the logits in the
    batch's order (every target, then each case's KL row); ``shift_positions[row]`` is where, in the batch
    layout that path feeds the model, each row's lookup sits. Every case has its own shift and Adam
    optimiser and stops on its own (loss below ``v_loss_threshold``, or the last step); a stopped case's
    shift stays as it was when it stopped.
    """
    hp = ctx.hparams
    device = ctx.device
    problems = batch.problems
    n_cases = len(problems)
    rows_all = torch.arange(len(batch.sequences), device=device)
    row_case_t = torch.tensor(batch.row_case, device=device)
    target_rows_t = torch.tensor(batch.target_rows, device=device)
    target_tok_t = torch.tensor(batch.target_tok, device=device)
    n_targets = len(batch.target_rows)
    # per row: its case's number of target tokens; per case: its rewrite rows (every row but its KL row)
    row_n_target = torch.tensor([float(problems[c].n_target) for c in batch.row_case], device=device)
    kl_rows = set(batch.kl_rows)
    rewrite_rows = [row for row in range(len(batch.sequences)) if row not in kl_rows]
    rewrite_rows_t = torch.tensor(rewrite_rows, device=device)
    rewrite_case_t = row_case_t[rewrite_rows_t]
    n_rewrite_t = torch.tensor([float(p.n_rewrite) for p in problems], device=device)
    first_rows = [batch.row_case.index(c) for c in range(n_cases)]
    first_positions = [int(shift_positions[row]) for row in first_rows]

    deltas = [torch.zeros(ctx.layout.hidden_size, device=device, dtype=torch.float32, requires_grad=True)
              for _ in range(n_cases)]
    optimizers = [torch.optim.Adam([delta], lr=hp["v_lr"]) for delta in deltas]
    state: dict[str, torch.Tensor] = {}

    def hook(_module, _inputs, output):
        hidden = _hidden(output)
        if "target_init" not in state:
            state["target_init"] = torch.stack([hidden[row, pos].detach().float().clone()
                                                for row, pos in zip(first_rows, first_positions)])
        shift = torch.zeros_like(hidden)
        shift[rows_all, shift_positions] = torch.stack(deltas)[row_case_t].to(hidden.dtype)
        return _with_hidden(output, hidden + shift)

    frozen = [shift_is_unread(ctx, p, module) for p in problems]
    results: list[TargetValue | None] = [None] * n_cases
    active = list(range(n_cases))
    kl_init = None
    handle = module.register_forward_hook(hook)
    try:
        for step in range(hp["v_num_grad_steps"]):
            for case in active:
                optimizers[case].zero_grad()
            log_probs = torch.log_softmax(read_logits().float(), dim=-1)
            token_lp = log_probs[:n_targets].gather(1, target_tok_t.unsqueeze(1)).squeeze(1)
            nll_rows = -torch.zeros(len(batch.sequences), device=device).index_add(0, target_rows_t, token_lp) / row_n_target
            nll_rewrite = nll_rows[rewrite_rows_t]
            nll = torch.zeros(n_cases, device=device).index_add(0, rewrite_case_t, nll_rewrite) / n_rewrite_t
            kl_lp = log_probs[n_targets:]
            if kl_init is None:
                kl_init = kl_lp.detach().clone()
            kl = hp["kl_factor"] * (kl_lp.exp() * (kl_lp - kl_init)).sum(-1)
            target_norms = state["target_init"].norm(dim=-1)
            decay = hp["v_weight_decay"] * torch.stack([d.norm() for d in deltas]) / target_norms ** 2
            losses = nll + kl + decay
            loss_values = losses.detach().tolist()
            probs = torch.zeros(n_cases, device=device).index_add(0, rewrite_case_t, torch.exp(-nll_rewrite.detach()))
            probs = (probs / n_rewrite_t).tolist()
            going = []
            for case in active:
                done = loss_values[case] < hp["v_loss_threshold"] or step == hp["v_num_grad_steps"] - 1
                if done or frozen[case]:  # frozen: delta stays 0 and the loss stays put (see shift_is_unread)
                    steps = hp["v_num_grad_steps"] if frozen[case] and not done else step + 1
                    results[case] = TargetValue(state["target_init"][case].clone(), deltas[case].detach().clone(),
                                                steps, loss_values[case], probs[case])
                else:
                    going.append(case)
            active = going
            if not active:
                break
            losses[active].sum().backward()
            for case in active:
                optimizers[case].step()
                max_norm = hp["clamp_norm_factor"] * target_norms[case]
                with torch.no_grad():
                    if deltas[case].norm() > max_norm:
                        deltas[case].mul_(max_norm / deltas[case].norm())
    finally:
        handle.remove()
    return results  # type: ignore[return-value]


def value_info(value: TargetValue) -> dict[str, float]:
    """The value optimisation's figures every editor reports (``edit_*`` columns of the edit table)."""
    return {"v_steps": value.steps, "v_loss": value.final_loss, "v_prob": value.target_prob,
            "v_delta_norm": float(value.delta.norm()), "value_seconds": value.seconds}


def optimize_target(ctx: EditContext, request: EditRequest, module: nn.Module) -> TargetValue:
    """Optimise a shift of ``module``'s output at the subject's last token (ROME's ``v*`` / MEMIT's ``z``).

    Loss = mean over prefixed prompts of the mean NLL of the target tokens (teacher forced)
         + kl_factor * KL(original || edited) of the next-token distribution at the subject's last token of
           "{subject} is a"
         + v_weight_decay * ||delta|| / ||target_init||^2.
    Adam with ``v_lr`` for at most ``v_num_grad_steps`` steps, stopping once the loss is below
    ``v_loss_threshold``; after each step delta is clamped to ``clamp_norm_factor * ||target_init||``.

    The compute path is chosen by :mod:`goldenlayers.editors.fastpath` (``GOLDENLAYERS_EDIT_PATH``):
    ``fast`` (default) runs, per step, only the tokens from each row's subject-last token on and only the
    blocks from the edited one up (prefix keys/values and lower hidden states cached once per case);
    ``reference`` runs the full batch through the whole model with full logits every step, as the common
    frameworks do. Both give the same values up to float rounding (``tests/test_fastpath.py``).
    """
    from . import fastpath

    if ctx.values is not None:  # computed once by the target_values stage (editors.values)
        return ctx.values.lookup(ctx, request, module)
    start = time.perf_counter()
    if fastpath.get_mode() == "reference":
        result = optimize_target_reference(ctx, request, module)
    else:
        problem = value_problem(ctx, request)
        result = fastpath.optimize_target_fast(ctx, problem, module)
        if result is None:  # a model or setting the fast path does not cover
            result = optimize_target_full(ctx, problem, module)
    result.seconds = time.perf_counter() - start
    return result


def optimize_target_full(ctx: EditContext, problem: ValueProblem, module: nn.Module) -> TargetValue:
    """Every step runs the whole padded batch through the whole model; logits only at the positions read."""
    device = ctx.device
    ids, mask = pad_batch(problem.sequences, ctx.tokenizer.pad_token_id, device)
    target_rows_t = torch.tensor(problem.target_rows, device=device)
    target_pos_t = torch.tensor(problem.target_pos, device=device)
    kl_row, kl_pos = problem.kl_row, problem.lookups[problem.kl_row]

    def read_logits():
        hidden = ctx.model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
        picked = torch.cat([hidden[target_rows_t, target_pos_t], hidden[kl_row, kl_pos].unsqueeze(0)])
        return output_logits(ctx.model, picked)

    return run_value_optimisation(ctx, problem, module, torch.tensor(problem.lookups, device=device), read_logits)


def optimize_target_reference(ctx: EditContext, request: EditRequest, module: nn.Module) -> TargetValue:
    """The reference path: each step a full forward of the padded batch with the full logits at every
    position (``model(...).logits``), as EasyEdit/ROME's ``compute_v`` does; then the read positions are
    picked from them."""
    problem = value_problem(ctx, request)
    device = ctx.device
    ids, mask = pad_batch(problem.sequences, ctx.tokenizer.pad_token_id, device)
    target_rows_t = torch.tensor(problem.target_rows, device=device)
    target_pos_t = torch.tensor(problem.target_pos, device=device)
    kl_row, kl_pos = problem.kl_row, problem.lookups[problem.kl_row]

    def read_logits():
        logits = ctx.model(input_ids=ids, attention_mask=mask).logits
        return torch.cat([logits[target_rows_t, target_pos_t], logits[kl_row, kl_pos].unsqueeze(0)])

    return run_value_optimisation(ctx, problem, module, torch.tensor(problem.lookups, device=device), read_logits)


def inverse_second_moment_times(ctx: EditContext, layer: int, keys: torch.Tensor) -> torch.Tensor:
    """C^{-1} k for each row k of ``keys`` (C = second moment of the projection inputs at ``layer``)."""
    second = ctx.second_moment(layer).to(device=keys.device, dtype=torch.float64)
    solved = torch.linalg.solve(second, keys.to(torch.float64).T).T
    return solved.to(keys.dtype)
