"""Tiny randomly initialised models built from configs, with a byte-level tokenizer.

Families: the paper's GPT-2, LLaMA and Gemma3, and Qwen2, Mistral and Phi-3 (layouts found from the module
tree like the paper's) and BioGPT (a block without an MLP module: its layout comes from a ``layout:`` override).

They exercise every code path (layouts, editors, locators, the DAG) in seconds and need no download.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

SPECIALS = ["<|endoftext|>", "<pad>"]


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer: 256 byte tokens, one merge per space + ASCII letter, two specials.

    The merges make " X" a single token, so a one-token target exists for every letter.
    """
    vocab = {char: index for index, char in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    space = "\u0120"  # how ByteLevel writes a leading space
    letters = [chr(c) for c in range(ord("A"), ord("Z") + 1)] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    merges = [(space, letter) for letter in letters]
    for left, right in merges:
        vocab[left + right] = len(vocab)
    for special in SPECIALS:
        vocab[special] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token=SPECIALS[0], bos_token=SPECIALS[0], pad_token=SPECIALS[1]
    )


def tiny_config(family: str, num_layers: int, vocab_size: int):
    """A small config of ``family`` (one of ``TINY_FAMILIES``) with ``num_layers`` blocks."""
    # A wider initialisation than the default 0.02 gives the random model peaked next-token distributions,
    # so edits and causal traces have something to move.
    common = dict(vocab_size=vocab_size, bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 2, initializer_range=0.1)
    if family == "gpt2":
        from transformers import GPT2Config

        return GPT2Config(n_layer=num_layers, n_embd=64, n_head=4, n_positions=512, pad_token_id=vocab_size - 1, **common)
    if family == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(
            num_hidden_layers=num_layers, hidden_size=64, intermediate_size=192, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True,
            pad_token_id=vocab_size - 1, **common,
        )
    if family == "gemma3":
        from transformers import Gemma3TextConfig

        return Gemma3TextConfig(
            num_hidden_layers=num_layers, hidden_size=64, intermediate_size=192, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, max_position_embeddings=512, sliding_window=128,
            pad_token_id=vocab_size - 1, **common,
        )
    decoder = dict(num_hidden_layers=num_layers, hidden_size=64, intermediate_size=192, num_attention_heads=4,
                   num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True,
                   pad_token_id=vocab_size - 1, **common)
    if family == "qwen2":
        from transformers import Qwen2Config

        return Qwen2Config(**decoder)
    if family == "mistral":
        from transformers import MistralConfig

        return MistralConfig(sliding_window=None, **decoder)
    if family == "phi3":
        from transformers import Phi3Config

        return Phi3Config(**decoder)
    if family == "biogpt":
        from transformers import BioGptConfig

        return BioGptConfig(num_hidden_layers=num_layers, hidden_size=64, intermediate_size=192, num_attention_heads=4,
                            max_position_embeddings=512, pad_token_id=vocab_size - 1, **common)
    raise ValueError(f"unknown family {family!r} (tiny models: {', '.join(TINY_FAMILIES)})")


TINY_FAMILIES = ("gpt2", "llama", "gemma3", "qwen2", "mistral", "phi3", "biogpt")
BIOGPT_LAYOUT = {"blocks": "biogpt.layers", "mlp": "fc2", "proj": "fc2"}
"""The ``layout:`` override BioGPT needs: its blocks have no MLP module (fc1 and fc2 sit in the block);
fc2's output is the MLP output and fc2 the rewritten projection."""


def build_tiny(family: str, num_layers: int, seed: int = 0):
    """(model, tokenizer): a randomly initialised model of ``family``, deterministic for ``seed``."""
    from transformers import AutoModelForCausalLM

    tokenizer = byte_tokenizer()
    config = tiny_config(family, num_layers, len(tokenizer))
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    return model.eval(), tokenizer
