"""The PyTorch side of `cambrian bench generate`: greedy decoding with transformers'
LlamaForCausalLM from the model folder the command made, the same prompt ids, the same
number of new tokens, the same loop as ours (one forward over the prompt with the KV cache,
then one token at a time, argmax), eager, SDPA attention, in the dtype ours ran in (f32 by
default). Prints one JSON line:
prefill_tokens_per_sec, decode_tokens_per_sec, peak_rss_mib, device.

    python3 tools/bench/generate.py --model DIR --prompt-ids 5,6,7 --new-tokens 64 --iters 3
"""

import argparse
import json
import resource
import time

import torch
import transformers


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompt-ids", required=True, help="comma-separated token ids")
    parser.add_argument("--new-tokens", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[args.dtype]
    model = transformers.LlamaForCausalLM.from_pretrained(args.model, dtype=dtype, attn_implementation="sdpa")
    model = model.to(args.device).eval()
    prompt = torch.tensor([[int(i) for i in args.prompt_ids.split(",")]], device=args.device)

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    def generate():
        """Seconds of the prefill and of the decoding steps."""
        with torch.no_grad():
            start = time.perf_counter()
            out = model(input_ids=prompt, use_cache=True)
            token = out.logits[:, -1].argmax(-1, keepdim=True)
            token.cpu()
            sync()
            prefilled = time.perf_counter()
            cache = out.past_key_values
            for _ in range(args.new_tokens - 1):
                out = model(input_ids=token, past_key_values=cache, use_cache=True)
                cache = out.past_key_values
                token = out.logits[:, -1].argmax(-1, keepdim=True)
                token.cpu()
            sync()
            return prefilled - start, time.perf_counter() - prefilled

    for _ in range(args.warmup):
        generate()
    prefill = decode = 0.0
    for _ in range(args.iters):
        p, d = generate()
        prefill += p
        decode += d
    print(json.dumps({
        "prefill_tokens_per_sec": prompt.shape[1] * args.iters / prefill,
        "decode_tokens_per_sec": (args.new_tokens - 1) * args.iters / decode,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
    }))


if __name__ == "__main__":
    main()
