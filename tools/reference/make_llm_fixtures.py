"""Parity fixtures for the decoder-only LLMs (tests/llm_parity.rs).

For each case: a tiny random-weight transformers model saved with `save_pretrained`
(config.json, generation_config.json, safetensors), a tiny BPE `tokenizer.json` trained with
the `tokenizers` package, and `reference.safetensors` holding, for one prompt, the prompt's
token ids (`prompt_ids` [T] i64), the logits at every prompt position (`prompt_logits` [T, V]),
the greedy continuation (`generated_ids` [N] i64) and the logits that chose each generated
token (`step_logits` [N, V], from `generate(output_logits=True)`, i.e. through the KV cache).
The prompt and the decoded continuation are in the metadata. Float32, eager attention.
Run from the repository root:

    python3 tools/reference/make_llm_fixtures.py

CI never runs this; its outputs are committed.
"""

import json
import shutil
from pathlib import Path

import torch
import transformers as tf
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "fixtures" / "llm"
MAX_NEW_TOKENS = 8
SPECIALS = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "the cat sat on the mat and the dog sat on the log",
    "a quick brown fox jumps over the lazy dog near the river bank",
    "which vision encoder makes the best eyes for a language model?",
    "answer with the letter of the correct option: (A) red (B) green (C) blue",
    "USER: what is in the picture? ASSISTANT: a cat on a mat.",
    "images are split into patches, and patches become tokens for the model",
] * 4
TINY = dict(
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=128,
    bos_token_id=1,
    eos_token_id=2,
)


def metaspace_tokenizer(vocab_size):
    """Llama-2 / Mistral style: SentencePiece-like `▁` word boundaries, `<s>` prepended."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return tok


def byte_level_tokenizer(vocab_size):
    """Qwen2 / Llama-3 style: byte-level BPE, no BOS added."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def randomize(model, seed):
    """Weights of order one, so that logits are well separated and a wiring error shows. The
    residual branches write large updates, so that the output is not dominated by the input
    token's own embedding (with tied embeddings that makes greedy decoding repeat the prompt's
    last token)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=gen))
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                p.copy_(8.0 * torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)


def round_to_bf16(model):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))


def reference(model, ids):
    """Prompt logits, greedy continuation and the logits of each step; None when the draw is
    unusable as a fixture (a near tie in a greedy choice, or a degenerate repetition)."""
    input_ids = torch.tensor([ids])
    with torch.no_grad():
        prompt_logits = model(input_ids).logits[0]
        gen = model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=MAX_NEW_TOKENS,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
        )
    generated = gen.sequences[0, len(ids) :]
    step_logits = torch.stack(gen.logits)[:, 0]
    top2 = step_logits.topk(2, dim=-1).values
    gap = (top2[:, 0] - top2[:, 1]).min().item()
    if gap < 1e-2 or len(set(generated.tolist())) <= MAX_NEW_TOKENS // 2:
        return None
    return prompt_logits, generated, step_logits, gap


def make_case(name, config, tokenizer, prompt, save_kwargs=None, bf16=False):
    out = CASES / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    config.vocab_size = tokenizer.get_vocab_size()
    config._attn_implementation = "eager"
    ids = tokenizer.encode(prompt).ids
    # The first seed whose greedy choices are clear (top-2 gap >= 1e-2) and not one token repeated.
    for seed in range(100):
        torch.manual_seed(seed)
        model = tf.AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
        randomize(model, seed)
        if bf16:
            round_to_bf16(model)
        result = reference(model, ids)
        if result is not None:
            break
    else:
        raise RuntimeError(f"{name}: no usable seed")
    prompt_logits, generated, step_logits, gap = result
    text = tokenizer.decode(generated.tolist(), skip_special_tokens=True)

    if bf16:
        model = model.to(torch.bfloat16)
    model.save_pretrained(out, **(save_kwargs or {}))
    tokenizer.save(str(out / "tokenizer.json"))
    save_file(
        {
            "prompt_ids": torch.tensor(ids, dtype=torch.int64),
            "prompt_logits": prompt_logits.contiguous(),
            "generated_ids": generated.to(torch.int64).contiguous(),
            "step_logits": step_logits.contiguous(),
        },
        out / "reference.safetensors",
        metadata={"prompt": prompt, "text": text, "seed": str(seed), "min_greedy_gap": f"{gap:.4g}"},
    )
    files = sorted(p.name for p in out.iterdir())
    print(f"{name}: seed {seed}, {len(ids)} prompt tokens → {generated.tolist()} {text!r}; gap {gap:.3g}; {files}")


def main():
    llama_tok = metaspace_tokenizer(200)
    qwen_tok = byte_level_tokenizer(300)
    prompt = "the quick cat sat on the mat near the river and the dog"
    short_prompt = "the cat sat on the mat"

    # Llama-3-style: GQA (4 query heads, 2 kv heads), llama3 rope scaling, untied, sharded.
    llama = tf.LlamaConfig(
        **TINY,
        num_key_value_heads=2,
        tie_word_embeddings=False,
        rope_theta=500000.0,
        rope_scaling=dict(
            rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=16
        ),
    )
    make_case("llama-gqa-rope-llama3", llama, llama_tok, prompt, save_kwargs=dict(max_shard_size="40KB"))

    # Qwen2: q/k/v bias, tied embeddings, GQA, byte-level tokenizer without BOS.
    qwen = tf.Qwen2Config(**TINY, num_key_value_heads=2, tie_word_embeddings=True, rope_theta=1000000.0)
    make_case("qwen2-bias-tied", qwen, qwen_tok, short_prompt)

    # Mistral: one kv head, a sliding window shorter than the prompt, a bf16 checkpoint.
    mistral = tf.MistralConfig(**TINY, num_key_value_heads=1, sliding_window=6, tie_word_embeddings=False)
    make_case("mistral-window-bf16", mistral, llama_tok, prompt, bf16=True)


if __name__ == "__main__":
    main()
