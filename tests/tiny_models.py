"""Tiny randomly initialised Hugging Face models saved to a folder, for offline tests."""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "el", "gato", "##s", ".", ",", "<", ">",
         "script", "alert", "(", ")", "1", "hello", "world"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _save_tokenizer(folder: Path) -> None:
    from transformers import BertTokenizerFast

    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(SPECIAL + WORDS) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    tokenizer.model_max_length = 64
    tokenizer.save_pretrained(folder)


def tiny_bert(folder: Path) -> Path:
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(SPECIAL) + len(WORDS), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)
    BertModel(config).eval().save_pretrained(folder)
    _save_tokenizer(folder)
    return folder


def tiny_gpt2(folder: Path) -> Path:
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(SPECIAL) + len(WORDS), n_embd=32, n_layer=2, n_head=4, n_positions=64)
    GPT2Model(config).eval().save_pretrained(folder)
    _save_tokenizer(folder)
    return folder


def tiny_bart(folder: Path) -> Path:
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(0)
    n = len(SPECIAL) + len(WORDS)
    config = BartConfig(vocab_size=n, d_model=32, encoder_layers=2, decoder_layers=2,
                        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64,
                        decoder_ffn_dim=64, max_position_embeddings=64, pad_token_id=0, bos_token_id=2,
                        eos_token_id=3, decoder_start_token_id=2, forced_eos_token_id=None)
    BartForConditionalGeneration(config).eval().save_pretrained(folder)
    _save_tokenizer(folder)
    return folder


def tiny_llama(folder: Path, context: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2,
               head_dim: int = 8) -> Path:
    """A decoder-only LLM with grouped-query attention (by default 4 query heads share 2
    key/value heads)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(SPECIAL) + len(WORDS), hidden_size=heads * head_dim,
                         intermediate_size=2 * heads * head_dim,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         max_position_embeddings=context, pad_token_id=0, bos_token_id=2, eos_token_id=3)
    LlamaForCausalLM(config).eval().save_pretrained(folder)
    _save_tokenizer(folder)
    return folder
