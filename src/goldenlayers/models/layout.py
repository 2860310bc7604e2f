"""Where things are in a loaded causal LM: blocks, MLPs, the rewritten projection, final norm, unembedding.

Everything is found from the module tree and the model config, never from the model's name:
- the blocks are the largest ``nn.ModuleList`` whose length is the config's layer count
  (GPT-2 ``transformer.h``, LLaMA ``model.layers``, Gemma3 ``model.language_model.layers``);
- the MLP is the block child named ``mlp`` (or, failing that, whose class name ends in "MLP");
- the rewritten weight is the MLP's projection back to the hidden size (GPT-2 ``c_proj``, a ``Conv1D`` that
  stores its weight as (in, out); LLaMA/Gemma3 ``down_proj``, an ``nn.Linear`` storing (out, in));
- the final norm is the norm-like sibling of the block list; the unembedding is ``get_output_embeddings()``.

This finds the layout of the usual decoder shapes (GPT-2, LLaMA, Gemma3, Qwen2, Mistral, Phi-3, GPT-NeoX,
...). Where it does not (a block without an MLP module, e.g. BioGPT's ``fc1``/``fc2``), the model's config entry
names the paths (``layout: {blocks, mlp, proj, final_norm}``, :func:`resolve_layout`'s ``override``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import InputError


def _hidden_and_layers(model: nn.Module) -> tuple[int, int]:
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = getattr(text, "hidden_size", None) or getattr(text, "n_embd")
    layers = getattr(text, "num_hidden_layers", None) or getattr(text, "n_layer")
    return int(hidden), int(layers)


def _is_projection(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def _in_out(module: nn.Module) -> tuple[int, int]:
    """(in_features, out_features) of an nn.Linear or a transformers Conv1D."""
    if isinstance(module, nn.Linear):
        return module.in_features, module.out_features
    rows, cols = module.weight.shape  # Conv1D: (in, out)
    return rows, cols


@dataclass
class ModelLayout:
    model: nn.Module
    blocks_path: str
    mlp_name: str  # path inside a block of the module whose output is the MLP output
    proj_name: str  # path inside a block of the rewritten projection
    final_norm_path: str
    n_layers: int
    hidden_size: int
    intermediate_size: int
    weight_is_in_out: bool  # True for GPT-2's Conv1D: weight shape (in, out)

    # -- lookup -------------------------------------------------------------------------------
    def check_layer(self, layer: int, field: str = "layer") -> int:
        if not isinstance(layer, int) or not 0 <= layer < self.n_layers:
            raise InputError(f"layer {layer} is outside the model, which has layers 0..{self.n_layers - 1}", field=field)
        return layer

    @property
    def blocks(self) -> nn.ModuleList:
        return self.model.get_submodule(self.blocks_path)

    def block(self, layer: int) -> nn.Module:
        return self.blocks[self.check_layer(layer)]

    def block_name(self, layer: int) -> str:
        return f"{self.blocks_path}.{self.check_layer(layer)}"

    def mlp_module_name(self, layer: int) -> str:
        return f"{self.block_name(layer)}.{self.mlp_name}"

    def mlp(self, layer: int) -> nn.Module:
        return self.model.get_submodule(self.mlp_module_name(layer))

    def rewrite_module_name(self, layer: int) -> str:
        return f"{self.block_name(layer)}.{self.proj_name}"

    def rewrite_module(self, layer: int) -> nn.Module:
        return self.model.get_submodule(self.rewrite_module_name(layer))

    def rewrite_weight(self, layer: int) -> nn.Parameter:
        return self.rewrite_module(layer).weight

    @property
    def final_norm(self) -> nn.Module:
        return self.model.get_submodule(self.final_norm_path)

    @property
    def embedding(self) -> nn.Module:
        return self.model.get_input_embeddings()

    @property
    def unembedding(self) -> nn.Module:
        return self.model.get_output_embeddings()

    # -- weights as (out, in) matrices --------------------------------------------------------
    def weight_out_in(self, layer: int) -> torch.Tensor:
        """The rewritten weight as an (out = hidden, in = intermediate) matrix (a view, no copy)."""
        weight = self.rewrite_weight(layer)
        return weight.T if self.weight_is_in_out else weight

    def add_to_weight(self, layer: int, delta_out_in: torch.Tensor) -> None:
        """Add an (out, in) update to the rewritten weight in place, whatever its storage orientation."""
        weight = self.rewrite_weight(layer)
        delta = delta_out_in.T if self.weight_is_in_out else delta_out_in
        with torch.no_grad():
            weight.add_(delta.to(device=weight.device, dtype=weight.dtype))


def _submodule(model: nn.Module, path: str, key: str) -> nn.Module:
    try:
        return model.get_submodule(path)
    except AttributeError:
        raise InputError(f"the model {type(model).__name__} has no module {path!r}", field=key) from None


def _layout_from_override(model: nn.Module, override: dict, hidden: int, n_layers: int, key: str) -> ModelLayout:
    """The layout the config names (``models.<name>.layout``), checked against the model."""
    blocks_path = override["blocks"]
    blocks = _submodule(model, blocks_path, f"{key}.blocks")
    if not isinstance(blocks, nn.ModuleList) or len(blocks) != n_layers:
        raise InputError(f"{blocks_path!r} is not a list of the model's {n_layers} blocks", field=f"{key}.blocks")
    proj_name = override["proj"]
    proj = _submodule(blocks[0], proj_name, f"{key}.proj")
    if not _is_projection(proj) or _in_out(proj)[1] != hidden:
        raise InputError(f"{proj_name!r} is not a linear projection to the hidden size {hidden}", field=f"{key}.proj")
    mlp_name = override.get("mlp") or "mlp"
    _submodule(blocks[0], mlp_name, f"{key}.mlp")
    final_norm_path = override.get("final_norm") or _final_norm(model, blocks_path)
    _submodule(model, final_norm_path, f"{key}.final_norm")
    return ModelLayout(model=model, blocks_path=blocks_path, mlp_name=mlp_name, proj_name=proj_name,
                       final_norm_path=final_norm_path, n_layers=n_layers, hidden_size=hidden,
                       intermediate_size=_in_out(proj)[0], weight_is_in_out=not isinstance(proj, nn.Linear))


def _final_norm(model: nn.Module, blocks_path: str) -> str:
    parent_path = blocks_path.rsplit(".", 1)[0] if "." in blocks_path else ""
    parent = model.get_submodule(parent_path) if parent_path else model
    norms = [n for n, m in parent.named_children() if "norm" in type(m).__name__.lower() or n in ("ln_f", "norm")]
    if not norms:
        raise InputError(f"cannot find the final norm beside {blocks_path}; name it in the model's "
                         "`layout: {final_norm: ...}`", field="model")
    return f"{parent_path}.{norms[-1]}" if parent_path else norms[-1]


def resolve_layout(model: nn.Module, override: dict | None = None, key: str = "layout") -> ModelLayout:
    """Resolve the layout of a loaded causal LM from its module tree and config, or take the paths from
    ``override`` (``{blocks, proj, mlp, final_norm}``, the model's ``layout:`` config entry, named ``key`` in
    errors)."""
    hidden, n_layers = _hidden_and_layers(model)
    if override:
        return _layout_from_override(model, override, hidden, n_layers, key)
    hint = "; name the paths in the model's config entry (`layout: {blocks, mlp, proj}`, config/README.md)"
    candidates = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and len(module) == n_layers and name
    ]
    if not candidates:
        raise InputError(f"no list of {n_layers} blocks found in {type(model).__name__}{hint}", field="model")
    blocks_path, blocks = max(candidates, key=lambda item: sum(p.numel() for p in item[1].parameters()))

    block = blocks[0]
    children = dict(block.named_children())
    if "mlp" in children:
        mlp_name = "mlp"
    else:
        mlp_names = [n for n, m in children.items() if type(m).__name__.lower().endswith("mlp")]
        if len(mlp_names) != 1:
            raise InputError(f"cannot find the MLP in block {type(block).__name__}{hint}", field="model")
        mlp_name = mlp_names[0]
    mlp = children[mlp_name]
    projections = [(n, m) for n, m in mlp.named_children() if _is_projection(m)]
    back = [(n, m) for n, m in projections if _in_out(m)[1] == hidden and _in_out(m)[0] != hidden]
    if len(back) != 1:
        raise InputError(f"cannot find the MLP output projection in {type(mlp).__name__}{hint}", field="model")
    proj_name, proj = back[0]

    return ModelLayout(
        model=model,
        blocks_path=blocks_path,
        mlp_name=mlp_name,
        proj_name=f"{mlp_name}.{proj_name}",
        final_norm_path=_final_norm(model, blocks_path),
        n_layers=n_layers,
        hidden_size=hidden,
        intermediate_size=_in_out(proj)[0],
        weight_is_in_out=not isinstance(proj, nn.Linear),
    )
