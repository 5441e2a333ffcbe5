"""The PyTorch side of `cambrian bench eval`: evaluation as lmms-eval's LLaVA model and
Cambrian's evaluation scripts run it with transformers, one question at a time.
- Multiple choice, by likelihood (lmms-eval's `loglikelihood`): every choice's whole
  sequence (text before the image, the image's embeddings, the prompt, the choice's answer
  tokens) through `LlamaForCausalLM` with logits at every position, their log-softmax, the
  answer tokens' log-probabilities summed; the highest wins.
- Open-ended, by generation: HF `generate(inputs_embeds=..., do_sample=False)` at batch 1.
Reads `workload.json` and `images.safetensors` from the work folder the command made; eager,
SDPA attention, f32. Prints one JSON line: multiple_choice_per_sec, open_ended_per_sec,
chosen, replies, peak_rss_mib, device.

    python3 tools/bench/eval.py --model DIR/llm --work DIR --new-tokens 16
"""

import argparse
import json
import resource
import time

import torch
import transformers
from safetensors.torch import load_file


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--new-tokens", type=int, required=True)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
    model = transformers.LlamaForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="sdpa")
    model = model.to(args.device).eval()
    eos = model.generation_config.eos_token_id
    items = json.load(open(f"{args.work}/workload.json"))
    images = load_file(f"{args.work}/images.safetensors")["images"].to(args.device)
    embed = model.get_input_embeddings()

    def ids(values):
        return torch.tensor([values], dtype=torch.long, device=args.device)

    def prompt(q, extra=()):
        """[1, positions, hidden]: before, the image, after (+ extra tokens)."""
        item = items[q]
        return torch.cat([embed(ids(item["before"])), images[q : q + 1], embed(ids(item["after"] + list(extra)))], 1)

    def choice_score(q, choice):
        embeds = prompt(q, choice)
        logits = model(inputs_embeds=embeds).logits  # [1, positions, vocab]
        log_probs = torch.log_softmax(logits[0, -len(choice) - 1 : -1], -1)
        return log_probs.gather(1, torch.tensor(choice, device=args.device)[:, None]).sum().item()

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    multiple = [q for q, item in enumerate(items) if item["choices"]]
    open_ended = [q for q, item in enumerate(items) if not item["choices"]]
    chosen, replies = [], []
    with torch.no_grad():
        # Warm-up: one question of each.
        [choice_score(multiple[0], c) for c in items[multiple[0]]["choices"]]
        model.generate(inputs_embeds=prompt(open_ended[0]), max_new_tokens=args.new_tokens, do_sample=False, eos_token_id=eos)
        start = time.perf_counter()
        for q in multiple:
            scores = [choice_score(q, c) for c in items[q]["choices"]]
            chosen.append(max(range(len(scores)), key=lambda j: (scores[j], -j)))
        sync()
        multiple_secs = time.perf_counter() - start
        start = time.perf_counter()
        for q in open_ended:
            out = model.generate(
                inputs_embeds=prompt(q), max_new_tokens=args.new_tokens, do_sample=False, eos_token_id=eos, pad_token_id=eos
            )
            replies.append(out[0].tolist())
        sync()
        open_secs = time.perf_counter() - start
    print(json.dumps({
        "multiple_choice_per_sec": len(multiple) / multiple_secs,
        "open_ended_per_sec": len(open_ended) / open_secs,
        "chosen": chosen,
        "replies": replies,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
    }))


if __name__ == "__main__":
    main()
