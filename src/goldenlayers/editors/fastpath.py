"""The fast compute path of the value optimisation (ROME's ``v*``, MEMIT's ``z``), exact by construction.

The shift is added at each row's subject-last token (its *lookup*) in one block L. Under causal attention
nothing before the lookup depends on it, and nothing below block L does. So, once per case:

1. one no-grad forward of the whole padded batch yields every layer's keys/values (its KV cache)
   and the input of every block at each row's positions from the lookup on;
2. every Adam step then feeds only those *suffix* positions (the lookup, the rest of the prompt and the
   teacher-forced target tokens: 2-4 tokens instead of ~20 per row), with
   - the blocks below L replaced by stubs that return the cached input of block L,
   - the prefix keys/values of every layer >= L served from the cache (a read-only cache object, so
     nothing grows between steps),
   - an explicit 4D attention mask built from true token positions (per-row split points, right padding
     of both the prefix and the suffix, and Gemma3's sliding windows measured in true positions),
   - logits only at the positions the loss reads.

The arithmetic is the same as the full forward's (same weights, same positions, same keys/values), so the
values agree up to float rounding; ``tests/test_fastpath.py`` checks the per-case metrics of whole edits.

Where the fast path does not apply (an attention implementation other than sdpa/eager, a model family it
does not know, a sequence longer than a sliding window), :func:`optimize_target_fast` returns ``None`` and the
caller runs the full forward.

Switch: ``GOLDENLAYERS_EDIT_PATH=fast|reference`` in the environment, or :func:`set_mode` / :func:`use_mode`
in code. ``fast`` is the default. Within a :func:`case_cache` scope (:mod:`goldenlayers.editors.case_cache`) the
per-case forward of step 1 is shared by every layer edited for the same case (a layer sweep in one process); the
caller promises the model's weights are the unedited ones whenever an edit is computed (single-fact editing
restores them bit-exactly), and a fingerprint of the rewritten weights guards that promise.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn

from ..models.hooks import hooks
from ..errors import GoldenLayersError
from ..models.layout import resolve_layout, text_config
from ..models.tokens import answer_positions, kv_cache_name, output_logits, pad_batch
from . import case_cache as _case_cache
from .request import EditContext
from .target_value import BatchView, ProblemBatch, TargetValue, ValueProblem, block_index_of, run_value_optimisations
from .weights import applied_layers

MODES = ("fast", "reference")
ENV_VAR = "GOLDENLAYERS_EDIT_PATH"
_mode: str | None = None

SUPPORTED_MODEL_TYPES = {"gpt2", "llama", "gemma3", "gemma3_text"}
SUPPORTED_ATTENTION = {"sdpa", "eager"}


# ------------------------------------------------------------------------------------------------ switch


def get_mode() -> str:
    mode = _mode or os.environ.get(ENV_VAR, "fast") or "fast"
    if mode not in MODES:
        raise ValueError(f"{ENV_VAR}={mode!r}: expected one of {', '.join(MODES)}")
    return mode


def set_mode(mode: str | None) -> None:
    """Select the compute path for this process (``None``: back to the environment / default)."""
    global _mode
    if mode is not None and mode not in MODES:
        raise ValueError(f"unknown compute path {mode!r}: expected one of {', '.join(MODES)}")
    _mode = mode


@contextlib.contextmanager
def use_mode(mode: str) -> Iterator[None]:
    global _mode
    previous = _mode
    set_mode(mode)
    try:
        yield
    finally:
        _mode = previous


# ------------------------------------------------------------------------------------- per-case cache

case_cache = _case_cache.case_cache  # the layer sweep's per-case scope (editors.case_cache), here for callers


# ------------------------------------------------------------------------------------------ model parts


def _owner(layout) -> nn.Module:
    """The module whose forward runs the block list (LlamaModel, GPT2Model, Gemma3TextModel)."""
    path = layout.blocks_path.rsplit(".", 1)[0] if "." in layout.blocks_path else ""
    return layout.model.get_submodule(path) if path else layout.model


class _PrefixKV:
    """A read-only stand-in for a KV cache: each attention layer gets the cached prefix keys/values of its
    layer (of as many rows as it is fed, the first ones) concatenated in front of the keys/values of the tokens it
    is fed. Nothing is stored, so every step starts from the same prefix."""

    def __init__(self, keys: dict[int, torch.Tensor], values: dict[int, torch.Tensor]):
        self.keys, self.values = keys, values

    def update(self, key_states, value_states, layer_idx, *args, **kwargs):
        rows = key_states.shape[0]  # a block fed only its first rows (see _entering_blocks) gets their prefixes
        return (torch.cat([self.keys[layer_idx][:rows], key_states], dim=-2),
                torch.cat([self.values[layer_idx][:rows], value_states], dim=-2))


@dataclass
class _PrefixState:
    """What one no-grad forward of a case's batch gives every layer's edit of that case."""

    keys: dict[int, torch.Tensor]  # layer -> [B, kv_heads, P, d]: keys of positions < P (per row < lookup)
    values: dict[int, torch.Tensor]
    block_inputs: dict[int, torch.Tensor]  # layer -> [B, S, H]: block input at positions lookup + j
    suffix_ids: torch.Tensor  # [B, S]
    position_ids: torch.Tensor  # [B, S]
    masks: Any  # 4D mask, or {layer_type: 4D mask}
    prefix_len: int


def _attention_masks(lookups, lengths, prefix_len, suffix_len, config, attn, dtype, device):
    """[B, 1, S, P+S] masks from true positions: key k < P is prefix position k of the row (valid below its
    lookup), key P+j' is suffix position lookup+j' (valid below the row's length). Pad queries see
    themselves, so no query row is fully masked."""
    lookups_t = torch.tensor(lookups, device=device)[:, None, None]
    lengths_t = torch.tensor(lengths, device=device)[:, None, None]
    j = torch.arange(suffix_len, device=device)[None, :, None]  # query index
    k = torch.arange(prefix_len + suffix_len, device=device)[None, None, :]  # key index
    is_prefix = k < prefix_len
    key_pos = torch.where(is_prefix, k, lookups_t + (k - prefix_len))
    query_pos = lookups_t + j
    key_real = torch.where(is_prefix, k < lookups_t, key_pos < lengths_t)
    causal = key_pos <= query_pos
    itself = (~is_prefix) & (k - prefix_len == j)
    base = (key_real & causal) | itself

    def render(allowed):
        allowed = allowed[:, None]
        if attn == "sdpa":
            return allowed
        zero = torch.zeros((), dtype=dtype, device=device)
        return torch.where(allowed, zero, torch.tensor(torch.finfo(dtype).min, dtype=dtype, device=device))

    model_type = getattr(config, "model_type", "")
    if model_type.startswith("gemma3"):
        window = config.sliding_window
        sliding = base & ((query_pos - key_pos < window) | itself)
        return {"full_attention": render(base), "sliding_attention": render(sliding)}
    return render(base)


def _supported(ctx: EditContext, problem: ValueProblem | ProblemBatch) -> bool:
    config = text_config(ctx.model)
    if getattr(config, "model_type", None) not in SUPPORTED_MODEL_TYPES:
        return False
    if getattr(config, "_attn_implementation", None) not in SUPPORTED_ATTENTION:
        return False
    if getattr(config, "use_bidirectional_attention", False):
        return False
    if getattr(config, "model_type", "").startswith("gemma3"):
        longest = max(len(s) for s in problem.sequences)
        if config.sliding_window is None or longest >= config.sliding_window:
            return False
    return True


@torch.no_grad()
def _prefix_state(ctx: EditContext, problem: ValueProblem | ProblemBatch) -> _PrefixState | None:
    layout, device = ctx.layout, ctx.device
    owner = _owner(layout)
    config = text_config(ctx.model)
    attn = config._attn_implementation
    ids, mask = pad_batch(problem.sequences, ctx.tokenizer.pad_token_id, device)
    lookups = problem.lookups
    lengths = [len(s) for s in problem.sequences]
    prefix_len = max(lookups)
    suffix_len = max(n - l for n, l in zip(lengths, lookups))
    rows = torch.arange(len(lengths), device=device)[:, None]
    offsets = torch.arange(suffix_len, device=device)[None, :]
    lookups_t = torch.tensor(lookups, device=device)[:, None]
    lengths_t = torch.tensor(lengths, device=device)[:, None]
    # suffix positions; pads repeat the row's last real position (any real position works: pads are masked)
    positions = torch.minimum(lookups_t + offsets, lengths_t - 1)

    block_inputs: dict[int, torch.Tensor] = {}

    def capture(index):
        def pre_hook(_module, args, kwargs):
            hidden = args[0] if args else kwargs["hidden_states"]
            block_inputs[index] = hidden[rows, positions].detach()
        return pre_hook

    with hooks([(block, capture(i)) for i, block in enumerate(layout.blocks)], pre=True, with_kwargs=True), \
            sdpa_gqa(ctx.model):
        out = owner(input_ids=ids, attention_mask=mask, use_cache=True)
    cache = getattr(out, kv_cache_name(owner))
    layers = getattr(cache, "layers", None)
    if layers is None or len(layers) != layout.n_layers:
        return None
    keys, values = {}, {}
    for index, layer in enumerate(layers):
        if layer.keys is None or layer.keys.shape[-2] != ids.shape[1]:  # e.g. a sliding layer dropped tokens
            return None
        keys[index] = layer.keys[:, :, :prefix_len].contiguous()
        values[index] = layer.values[:, :, :prefix_len].contiguous()
    suffix_ids = ids[rows, positions]
    dtype = next(ctx.model.parameters()).dtype
    masks = _attention_masks(lookups, lengths, prefix_len, suffix_len, config, attn, dtype, device)
    return _PrefixState(keys, values, block_inputs, suffix_ids, positions, masks, prefix_len)


def _cached_prefix_state(ctx: EditContext, problem: ValueProblem | ProblemBatch) -> _PrefixState | None:
    key = (id(ctx.model), tuple(problem.sequences), tuple(problem.lookups))
    return _case_cache.shared("prefix_state", key, ctx.layout, lambda: _prefix_state(ctx, problem))


def _restore_forwards(saved: list) -> None:
    """Undo instance-level ``forward`` overrides: each (module, the instance's own forward before, or None)."""
    for block, previous in saved:
        if previous is None:
            del block.forward
        else:
            block.forward = previous


@contextlib.contextmanager
def _stubbed_blocks(blocks: nn.ModuleList, below: int, output: torch.Tensor) -> Iterator[None]:
    """Blocks ``0..below-1`` return ``output`` (the cached input of block ``below``) without computing."""
    saved = []
    try:
        for index in range(below):
            block = blocks[index]
            saved.append((block, block.__dict__.get("forward")))
            block.forward = lambda *args, **kwargs: output
        yield
    finally:
        _restore_forwards(saved)


SPLIT_BYTES = 1 << 20  # weight slice of a split linear (0: no splitting)
SPLIT_MIN_ROWS = 64  # no slice narrower: MKL rounds narrow products differently (wide ones: bit for bit)


class _SplitLinear(torch.autograd.Function):
    """``F.linear(x, weight)`` (no bias) computed over slices of the weight's rows (output features), for a frozen
    weight. Each output is the same dot product over the same inputs; on a CPU, with few input rows and a
    weight larger than the cache (the unembedding, an MLP's up projections), the slices run faster (SmolLM2's
    unembedding 20-40%). With slices of at least :data:`SPLIT_MIN_ROWS` outputs MKL gives F.linear's numbers
    bit for bit (``tests/test_fastpath.py``). The backward is autograd's for F.linear (``grad @ weight``)."""

    @staticmethod
    def forward(ctx, x, weight, sizes):
        ctx.save_for_backward(weight)
        return torch.cat([nn.functional.linear(x, part) for part in weight.split(list(sizes))], dim=-1)

    @staticmethod
    def backward(ctx, grad):
        (weight,) = ctx.saved_tensors
        flat = grad.reshape(-1, grad.shape[-1]).mm(weight)
        return flat.reshape(*grad.shape[:-1], weight.shape[1]), None, None


def split_sizes(out_features: int, in_features: int, element_size: int, budget: int | None = None) -> tuple[int, ...] | None:
    """Slices of about ``budget`` bytes (default :data:`SPLIT_BYTES`) of an ``out_features`` x ``in_features`` weight,
    as even as they divide; ``None`` when it fits one slice or a slice would be narrower than
    :data:`SPLIT_MIN_ROWS`."""
    budget = SPLIT_BYTES if budget is None else budget
    if budget <= 0:
        return None
    count = -(-out_features * in_features * element_size // budget)
    if count < 2:
        return None
    base, extra = divmod(out_features, count)
    if base < SPLIT_MIN_ROWS:
        return None
    return tuple(base + 1 if i < extra else base for i in range(count))


@contextlib.contextmanager
def _split_linears(modules) -> Iterator[None]:
    """Inside the block, every frozen bias-free ``nn.Linear`` on the CPU among ``modules`` (and their submodules)
    that widens its input runs as :class:`_SplitLinear` (slices of :data:`SPLIT_BYTES`, at least
    :data:`SPLIT_MIN_ROWS` outputs)."""
    saved = []
    try:
        for module in {id(m): m for top in modules for m in top.modules()}.values():
            if (type(module) is nn.Linear and module.bias is None and not module.weight.requires_grad
                    and module.weight.device.type == "cpu" and module.out_features > module.in_features
                    and "forward" not in module.__dict__):
                sizes = split_sizes(module.out_features, module.in_features, module.weight.element_size())
                if sizes:
                    module.forward = (lambda m, n: lambda x: _SplitLinear.apply(x, m.weight, n))(module, sizes)
                    saved.append(module)
        yield
    finally:
        for module in saved:
            del module.forward


GQA_SWITCH = "TRANSFORMERS_SDPA_FORCE_GQA"  # transformers' switch for sdpa's own grouped-query attention


@contextlib.contextmanager
def sdpa_gqa(model) -> Iterator[None]:
    """On a CPU, grouped-query attention runs inside sdpa (``enable_gqa``) instead of transformers first copying every
    key/value head ``n_rep`` times (``repeat_kv``): the same numbers bit for bit, forward and backward
    (``tests/test_fastpath.py``), without a copy of the keys and values per layer and step (~5% of a step's time on
    SmolLM2, 3 key/value heads for 9 query heads). transformers asks sdpa for it with a mask only on request
    (``TRANSFORMERS_SDPA_FORCE_GQA``), since CUDA's fused kernels refuse a masked GQA call and fall back to the slow
    one; so this scope turns it on for CPU models only and restores the environment after."""
    parameter = next(model.parameters(), None)
    if parameter is None or parameter.device.type != "cpu" or GQA_SWITCH in os.environ:
        yield
        return
    os.environ[GQA_SWITCH] = "1"
    try:
        yield
    finally:
        os.environ.pop(GQA_SWITCH, None)


def optimize_target_fast(ctx: EditContext, problem: ValueProblem, module: nn.Module) -> TargetValue | None:
    """The value optimisation on suffix tokens and upper blocks only; ``None`` where it does not apply."""
    values = optimize_targets_fast(ctx, [problem], [module])
    return None if values is None else values[0]


def optimize_targets_fast(ctx: EditContext, problems: list[ValueProblem], modules: list[nn.Module]) -> list[TargetValue] | None:
    """Several value problems side by side in one batch: each problem ``i`` shifts ``modules[i]`` (cases of a
    dataset at one site, one case at a sweep of layers, or both). Each keeps its own shift, optimiser and early
    stop, so the results are each problem's own optimisation; the matrix products are larger. ``None`` where the
    fast path does not apply.

    - One no-grad forward per distinct case (a problem repeated at several sites shares its rows' prefix state).
    - The rows of a problem shifting block L's output enter at block L: each block runs only the rows that have
      reached it (:func:`_entering_blocks`), so a sweep costs what its layers cost one at a time.
    - Once problems stop, the next steps feed only the remaining ones' rows, with the suffix and prefix trimmed to
      their longest (:func:`_view`): a batch no longer pays for its slowest case's steps with every case's rows.

    Every row is its own sequence, so the results are each problem's own optimisation up to float rounding: a
    30-layer sweep of one SmolLM2 case gave the one-at-a-time shifts bit for bit; cases of different lengths in one
    batch differ from alone by up to ~1e-5 in the shift, with the same steps (``tests/test_fastpath.py``)."""
    entries = [block_index_of(ctx.layout, module) for module in modules]
    if not problems or any(entry is None for entry in entries):
        return None
    cases = ProblemBatch.of(list({id(p): p for p in problems}.values()))  # each distinct case once
    distinct = {id(p): case for case, p in enumerate(cases.problems)}
    if not _supported(ctx, cases):
        return None
    state = _cached_prefix_state(ctx, cases)
    if state is None:
        return None
    first_row = [cases.row_case.index(case) for case in range(len(cases.problems))]
    rows_of = [list(range(first_row[distinct[id(p)]], first_row[distinct[id(p)]] + len(p.sequences))) for p in problems]
    batch = ProblemBatch.of(problems)

    def view_of(active: list[int]) -> BatchView:
        return _view(ctx, state, problems, entries, rows_of, cases, active)

    low = min(entries)
    upper = [ctx.layout.blocks[l] for l in range(low, ctx.layout.n_layers)] + [ctx.model.get_output_embeddings()]
    with _split_linears(upper), sdpa_gqa(ctx.model):
        return run_value_optimisations(ctx, batch, modules, view_of)


class _View:
    """The per-view tensors the wrapped blocks read: per block, how many rows it runs (rows reach the blocks in
    order) and the cached inputs of the rows entering there."""

    def __init__(self, counts: list[int], entering: dict[int, torch.Tensor]):
        self.counts, self.entering = counts, entering


def _view(ctx: EditContext, state: "_PrefixState", problems, entries, rows_of, cases: ProblemBatch,
          active: list[int]) -> BatchView:
    """The batch of the ``active`` problems' rows, problems ordered by the block their rows enter (so that the rows
    that have reached a block are always the first ones), suffix and prefix trimmed to these rows' longest, and its
    ``read_logits``: the owner's forward with every block from the lowest entry on wrapped by
    :func:`_entering_blocks` and the blocks below skipped."""
    device, layout = ctx.device, ctx.layout
    order = sorted(active, key=lambda problem: (entries[problem], problem))
    rows = [row for problem in order for row in rows_of[problem]]
    row_entry = [entries[problem] for problem in order for _ in rows_of[problem]]
    lookups = [cases.lookups[row] for row in rows]
    lengths = [len(cases.sequences[row]) for row in rows]
    prefix_len, suffix_len = max(lookups), max(n - l for n, l in zip(lengths, lookups))
    rows_t = torch.tensor(rows, device=device)
    keep_keys = torch.cat([torch.arange(prefix_len, device=device),
                           state.prefix_len + torch.arange(suffix_len, device=device)])

    def trim(mask):
        return mask[rows_t][:, :, :suffix_len][..., keep_keys]

    masks = {k: trim(m) for k, m in state.masks.items()} if isinstance(state.masks, dict) else trim(state.masks)
    low = min(row_entry)
    counts = [sum(1 for e in row_entry if e <= k) for k in range(layout.n_layers)]
    entering = {}
    for k in sorted(set(row_entry)):
        positions = [i for i, e in enumerate(row_entry) if e == k]
        entering[k] = state.block_inputs[k][rows_t[positions]][:, :suffix_len]
    view = _View(counts, entering)
    cache = _PrefixKV({l: state.keys[l][rows_t][:, :, :prefix_len] for l in range(low, layout.n_layers)},
                      {l: state.values[l][rows_t][:, :, :prefix_len] for l in range(low, layout.n_layers)})
    suffix_ids = state.suffix_ids[rows_t][:, :suffix_len]
    position_ids = state.position_ids[rows_t][:, :suffix_len]
    batch = ProblemBatch.of([problems[problem] for problem in order])
    target_rows_t = torch.tensor(batch.target_rows, device=device)
    lookups_t = torch.tensor(batch.lookups, device=device)
    target_idx_t = torch.tensor(batch.target_pos, device=device) - lookups_t[target_rows_t]
    kl_rows_t = torch.tensor(batch.kl_rows, device=device)
    owner = _owner(layout)
    cache_arg = {kv_cache_name(owner): cache}

    def read_logits():
        with _entering_blocks(layout.blocks, view):
            hidden = owner(input_ids=suffix_ids, attention_mask=masks, position_ids=position_ids, use_cache=True,
                           **cache_arg).last_hidden_state
        picked = torch.cat([hidden[target_rows_t, target_idx_t], hidden[kl_rows_t, 0]])
        return output_logits(ctx.model, picked)

    return BatchView(order, batch, torch.zeros(len(rows), dtype=torch.long, device=device), read_logits)


def _rows(value, batch_size: int, count: int):
    """``value`` (an argument of a block's forward) cut to its first ``count`` rows where it holds one entry per
    row (a tensor of 2 or more dimensions whose first is the batch), tuples and lists of such entry by entry."""
    if isinstance(value, torch.Tensor):
        return value[:count] if value.dim() >= 2 and value.shape[0] == batch_size and count < batch_size else value
    if isinstance(value, (tuple, list)):
        return type(value)(_rows(item, batch_size, count) for item in value)
    return value


@contextlib.contextmanager
def _entering_blocks(blocks: nn.ModuleList, view: _View) -> Iterator[None]:
    """Block ``k`` runs the first ``view.counts[k]`` rows: those carried up from below, then the rows entering at
    ``k``, which start from their cached input of block ``k`` (``view.entering[k]``). A block no row has reached
    returns its (empty) input. Its other per-row arguments (mask, position ids and embeddings) are cut to the same
    rows, and the key/value cache (:class:`_PrefixKV`) serves the prefix of as many rows as it is fed."""
    saved = []

    def wrap(index, original):
        def forward(hidden_states, *args, **kwargs):
            entering = view.entering.get(index)
            carried = hidden_states[:view.counts[index] - (0 if entering is None else len(entering))]
            if entering is not None:
                carried = entering if not len(carried) else torch.cat([carried, entering])
            if not len(carried):
                return carried
            count = view.counts[index]
            total = view.counts[-1]
            args = tuple(_rows(a, total, count) for a in args)
            kwargs = {k: _rows(v, total, count) for k, v in kwargs.items()}
            return original(carried, *args, **kwargs)
        return forward

    try:
        for index, block in enumerate(blocks):
            saved.append((block, block.__dict__.get("forward")))
            block.forward = wrap(index, block.forward)
        yield
    finally:
        _restore_forwards(saved)


# ------------------------------------------------------------------------------------------ evaluation

EVAL_BATCH = 32  # the most queries answered in one shared forward (metrics.predicted_tokens' batch size)
EVAL_CACHE_BYTES = 1 << 30  # the most the kept block inputs of one evaluation batch may take


@dataclass
class _EvalInputs:
    """One evaluation batch's block inputs, each with the fingerprints of the blocks below it when captured."""

    ids: list[list[int]]
    inputs: dict[int, tuple[tuple[float, ...], torch.Tensor]]


@torch.no_grad()
def predicted_tokens_shared(model, qas: list, pad_id: int) -> list[torch.Tensor] | None:
    """Inside a layer sweep's :func:`case_cache` scope: the teacher-forced argmax tokens of
    :func:`goldenlayers.evaluate.metrics.predicted_tokens`, with the blocks below the edited layer skipped.

    An edit at layer L (an open :class:`~goldenlayers.editors.weights.AppliedEdit`) leaves every block below L
    as it was, so the input of block L is that of the unedited model. Each evaluation of the same queries
    keeps the block inputs it computed up to its own edited layer (with the fingerprints of the blocks below
    each), and the next evaluation starts at the highest kept input its weights still match, at or below its
    own edited layer: the blocks below return that input without computing. The same batch and the same
    operations from there on, so the tokens are those of the full forward, bit for bit. ``None`` (the caller
    then runs the full forward) outside a scope, with no edit applied, for more than :data:`EVAL_BATCH` queries
    or when their block inputs would take more than :data:`EVAL_CACHE_BYTES`."""
    edited = applied_layers(model)
    if not edited or not _case_cache.active() or not qas or len(qas) > EVAL_BATCH:
        return None  # (unedited: the pre-edit evaluation, once per case, and another batch than the edits')
    layout = _layout_of(model)
    if layout is None:
        return None
    parameter = next(model.parameters())
    width = max(len(qa.ids) for qa in qas)
    if len(qas) * width * layout.hidden_size * parameter.element_size() * layout.n_layers > EVAL_CACHE_BYTES:
        return None
    device = parameter.device
    ids, mask = pad_batch([qa.ids for qa in qas], pad_id, device)
    key = ids.tolist()
    state = _case_cache.entry("eval_inputs")
    if not isinstance(state, _EvalInputs) or state.ids != key:
        state = _EvalInputs(key, {})
        _case_cache.put("eval_inputs", state)
    top = min(min(edited), layout.n_layers - 1)  # the block inputs are the unedited model's up to here
    fingerprint = _case_cache.weights_fingerprint(layout)
    usable = [l for l, (below, _) in state.inputs.items() if l <= top and below == fingerprint[:l]]
    start = max(usable, default=0)
    captured: dict[int, torch.Tensor] = {}

    def capture(index):
        def pre_hook(_module, args, kwargs):
            captured[index] = (args[0] if args else kwargs["hidden_states"]).detach()
        return pre_hook

    keep = [(layout.blocks[l], capture(l)) for l in range(start + 1, top + 1)]
    stub = (_stubbed_blocks(layout.blocks, start, state.inputs[start][1]) if start > 0
            else contextlib.nullcontext())
    upper = list(layout.blocks)[start:] + [model.get_output_embeddings()]
    with stub, hooks(keep, pre=True, with_kwargs=True), _split_linears(upper), sdpa_gqa(model):
        hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
        for l, tensor in captured.items():
            state.inputs[l] = (fingerprint[:l], tensor)
        rows, positions, _ = answer_positions(qas)
        picked = hidden[rows.to(device), positions.to(device)]
        argmax = output_logits(model, picked).argmax(-1).cpu()
    return [argmax[rows == row] for row in range(len(qas))]


def _layout_of(model):
    """The model's layout (resolved once per scope); None if it cannot be resolved without the config's override."""
    found = _case_cache.entry("layout")
    if found is None or found[0] is not model:
        try:
            found = (model, resolve_layout(model))
        except GoldenLayersError:
            found = (model, None)
        _case_cache.put("layout", found)
    return found[1]
