"""Benchmark the SSAE's fast paths against the reference code's way of doing the same work.

Three comparisons, each reported as a ratio against a baseline run in the same process (the
absolute numbers depend on the machine and on whatever else is running; the ratios much less):

1. Phase-1 training throughput (step tokens scored per second) of the cpu preset's model
   (SmolLM2-135M, frozen encoder and decoder, prefix after `<sep>`), bf16 autocast, real GSM8K
   train steps, AdamW on the trainable layers, loss = step NLL + constant-prefix NLL
   + weight * ||z_hat||_1 (`Phase1.loss`).
   - ours: length-bucketed batches, encoder states computed once beforehand (their cost is
     reported per example, as a one-off), and the shared-context decoder path (the context goes
     through the frozen decoder once, without autograd; only prefix and step tokens are
     processed and backpropagated, once per prefix).
   - reference-style baseline, as the paper's code trains: random batches, the encoder run on
     every step, last-token states gathered with a per-example Python loop, and the general
     decoder path (the whole prefixed sequence recomputed under autograd for the latent prefix
     and again for the constant prefix).
   Both train on the same examples (only their grouping into batches differs), so they score
   the same step tokens. Their updates are interleaved one by one so that both see the same
   competing load on a shared machine.
   Model-FLOP utilisation = achieved model FLOP/s / a bf16 matmul peak measured in this run.
2. Latent-conditioned greedy generation from a batch of real contexts: `greedy_decode` against transformers'
   `generate` with its KV cache, on the same input embeddings (SSAE prefix + context). Both must produce the same
   tokens (asserted in fp32).
3. The base model's greedy next steps for a batch of real GSM8K test contexts, as the features
   chapter samples them (stop at eos or a newline): `greedy_decode`, where finished rows leave
   the batch, against transformers' `generate`, which decodes every row until the last stops.
4. The next steps of every step of the first GSM8K test problems, as `sample_next_steps` makes
   them: a problem's nested prompts prefilled once and the LM's weights held in bf16, against
   one prompt per row with fp32 weights that autocast casts again at every decoded token (the
   features chapter's path before).

bf16 autocast throughout (the fast path on this CPU). Timings are reported, never asserted.

Writes figures/bench_cpu.json and figures/bench_cpu.md.
Usage: python tools/bench.py [--preset cpu] [--updates 6] [--warmup 1] [--gen-tokens 128] ... (`--help` lists all options)
"""
import argparse, copy, dataclasses, os, platform, sys, time
from contextlib import contextmanager
from functools import partial

import numpy as np
import torch

from ssae.core import (Preset, TrainConfig, atomic_write_text, autocast, figures_dir, get_preset, pick_device, pick_dtype, save_json,
                       seed_everything)
from ssae.features import eval_set, first_line, next_step_prompt, sample_next_steps
from ssae.models import load_lm, load_tokenizer
from ssae.segment import bucket_batches, gsm8k_splits, left_pad, padding_fraction
from ssae.ssae import SSAE, greedy_decode, latent_prompt, stop_token_mask
from ssae.train import Phase1

FLOP_FORMULA = ("model FLOPs per update = sum over LM passes of 2*N*t (forward) + 2*N*t (backward, activation "
                "gradients only: the LMs are frozen) for passes under autograd; N = non-embedding parameters, "
                "t = real (non-padding) tokens of the pass. "
                "ours: 2*N*C (context + <sep>, no autograd) + 2 prefixes * 4*N*(B*P + S); "
                "baseline: 2*N*T (encoder) + 2 prefixes * 4*N*(T + B*P); "
                "C context tokens, S scored step tokens (+eos), T = C + S, B rows, P prefix vectors. "
                "Attention scores and the vocabulary projection are left out, so the MFU is a lower bound.")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="cpu", help="tiny, cpu or paper: the model and training settings measured")
    ap.add_argument("--problems", type=int, default=100, help="first GSM8K train problems to draw steps from")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=1, help="untimed updates per method")
    ap.add_argument("--updates", type=int, default=6, help="timed updates per method")
    ap.add_argument("--gen-batch", type=int, default=4, help="contexts decoded together")
    ap.add_argument("--gen-tokens", type=int, default=128, help="new tokens per context")
    ap.add_argument("--gen-reps", type=int, default=3, help="timed generation batches per method, interleaved")
    ap.add_argument("--check-tokens", type=int, default=8, help="tokens decoded in fp32 to check that both paths agree")
    ap.add_argument("--next-batch", type=int, default=16, help="GSM8K test contexts whose next steps are sampled together")
    ap.add_argument("--next-tokens", type=int, default=64, help="most new tokens of a next step (the cpu preset's step budget)")
    ap.add_argument("--next-reps", type=int, default=3, help="timed batches per method, interleaved")
    ap.add_argument("--shared-problems", type=int, default=10, help="first GSM8K test problems whose every step is sampled (4.)")
    ap.add_argument("--matmul-size", type=int, default=2048)
    ap.add_argument("--matmul-reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: the cores left idle by other processes)")
    return ap.parse_args(argv)


@contextmanager
def timer(device: torch.device, into: list):
    "Append the wall time of the block to `into` (after the device has finished its queued work)."
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync(); start = time.perf_counter()
    yield
    sync(); into.append(time.perf_counter() - start)


def pick_threads(requested: int) -> int:
    """`requested`, or (0) the cores that the 1-minute load average leaves idle, at least one: OpenMP
    threads wait for each other at every barrier, so on a machine where another process keeps the
    cores busy two threads ran 2-4x slower here than one."""
    if requested: return requested
    return max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) - round(os.getloadavg()[0])))


def matmul_peak(n: int, reps: int, device: torch.device) -> float:
    "Best bf16 FLOP/s of an n x n @ n x n matmul over `reps` timed runs (after one warm-up)."
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    a @ b
    times = []
    for _ in range(reps):
        with timer(device, times): a @ b
    return 2 * n ** 3 / min(times)


def non_embedding_params(lm_base: torch.nn.Module) -> int:
    return sum(p.numel() for p in lm_base.parameters()) - lm_base.get_input_embeddings().weight.numel()


def token_counts(split, idx: list[int]) -> dict:
    "Real tokens of a batch: context + <sep> (C), scored step tokens + eos (S), rows (B)."
    batch = split.steps.batch(idx)
    return dict(C=int((batch["sep_index"] + 1).sum()), S=int(batch["loss_mask"].sum()), B=len(idx))


def model_flops(counts: dict, n_prefix: int, n_enc: int, n_dec: int, shared: bool) -> float:
    "Model FLOPs of one update on a batch with `counts` (see FLOP_FORMULA)."
    C, S, B = counts["C"], counts["S"], counts["B"]
    if shared: return 2 * n_dec * C + 2 * 4 * n_dec * (B * n_prefix + S)
    return 2 * n_enc * (C + S) + 2 * 4 * n_dec * (C + S + B * n_prefix)


def reference_forward(model: SSAE, batch: dict, h: torch.Tensor | None = None) -> dict:
    """`SSAE.forward` as the reference code computes it. `h` exists only for `Phase1.loss`'s call
    and is always None: the reference encodes every step."""
    assert h is None
    hidden = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    last = batch["last_index"].tolist()
    h = torch.stack([hidden[i, last[i]] for i in range(len(last))])
    z_hat = model.sparse_code(h)
    noisy = z_hat + model.config.noise_std * torch.randn_like(z_hat)
    dropped = model.step_dropout_mask(batch)
    nll, n_tokens = model.decoder_nll(model.prefix(noisy), batch, dropped)
    return dict(z_hat=z_hat, l1=z_hat.abs().sum(-1), h=h.detach(), nll=nll, n_tokens=n_tokens, null_nll=model.null_nll(batch, dropped)[0])


@torch.no_grad()
def encode(model: SSAE, split, idx: list[int], batch_size: int, device, dtype) -> torch.Tensor:
    "Encoder states at the last token of the examples `idx`, [len(idx), d] fp32 (length-sorted batches, as `encode_split`)."
    states = torch.empty(len(idx), model.config.hidden_size)
    for b in bucket_batches([split.steps.lengths[i] for i in idx], batch_size, seed=0, shuffle=False):
        batch = split.steps.batch([idx[i] for i in b], device)
        with autocast(device, dtype): states[b] = model.encoder_states(batch).float().cpu()
    return states


def batches_of(split, idx: list[int], batch_size: int, seed: int, bucketed: bool) -> list[list[int]]:
    "`idx` grouped into batches: length-bucketed (ours) or in random order (`bucket_factor=1`, the baseline)."
    lengths = [split.steps.lengths[i] for i in idx]
    return [[idx[i] for i in b] for b in bucket_batches(lengths, batch_size, seed, bucket_factor=50 if bucketed else 1)]


class Trainer:
    "One method's phase-1 updates: its forward, its own AdamW over the model's trainable layers, its timings."
    def __init__(self, model: SSAE, cfg: TrainConfig, forward, states: torch.Tensor | None, device, dtype):
        self.task = Phase1(model, cfg, None if states is None else {"train": {"h_step": states}})
        self.forward, self.device, self.dtype, self.clip = forward, device, dtype, cfg.grad_clip
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
        self.seconds: list[float] = []

    def update(self, split, idx: list[int], timed: bool = True) -> None:
        with timer(self.device, self.seconds if timed else []):
            with autocast(self.device, self.dtype): loss, _ = self.task.loss(self.forward, split, idx, self.device)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, self.clip)
            self.opt.step(); self.opt.zero_grad(set_to_none=True)


def bench_training(model: SSAE, cfg: TrainConfig, split, args, device, dtype, peak: float) -> dict:
    B = args.batch_size
    need = (args.warmup + args.updates) * B
    if len(split) < need: raise SystemExit(f"{len(split)} train steps from {args.problems} problems; need {need}: raise --problems")
    order = np.random.default_rng(args.seed).permutation(len(split)).tolist()
    warm, timed = order[:args.warmup * B], order[args.warmup * B:need]
    # Encoding the warm-up examples first also warms the encoder's kernels for the timed encoding.
    states = torch.zeros(len(split), model.config.hidden_size)
    states[warm] = encode(model, split, warm, 16, device, dtype)
    enc_seconds = []
    with timer(device, enc_seconds): states[timed] = encode(model, split, timed, 16, device, dtype)

    model.train()
    trainers = {"ours": Trainer(model, cfg, model, states, device, dtype),
                "baseline": Trainer(model, cfg, partial(reference_forward, model), None, device, dtype)}
    bucketed = {"ours": True, "baseline": False}
    plans = {name: batches_of(split, timed, B, args.seed, bucketed[name]) for name in trainers}
    for name, trainer in trainers.items():
        for idx in batches_of(split, warm, B, args.seed, bucketed[name]): trainer.update(split, idx, timed=False)
    for i in range(args.updates):
        for name, trainer in trainers.items(): trainer.update(split, plans[name][i])

    n_enc, n_dec = non_embedding_params(model.encoder), non_embedding_params(model.decoder.base_model)
    lengths = split.steps.lengths
    out = {}
    for name, trainer in trainers.items():
        counts = [token_counts(split, idx) for idx in plans[name]]
        seconds, step_tokens = sum(trainer.seconds), sum(c["S"] for c in counts)
        flops = sum(model_flops(c, model.config.n_prefix, n_enc, n_dec, shared=name == "ours") for c in counts)
        whole_split = bucket_batches(lengths, B, args.seed, bucket_factor=50 if bucketed[name] else 1)
        out[name] = dict(seconds=seconds, seconds_per_update=trainer.seconds, step_tokens=step_tokens,
                         step_tokens_per_s=step_tokens / seconds,
                         padding_fraction_timed=padding_fraction(lengths, plans[name]),
                         padding_fraction_split=padding_fraction(lengths, whole_split),
                         model_gflop_per_update=flops / args.updates / 1e9, achieved_gflop_per_s=flops / seconds / 1e9,
                         mfu=flops / seconds / peak)
    assert out["ours"]["step_tokens"] == out["baseline"]["step_tokens"]   # same examples, so the ratio is fair
    out["ours"]["encoder_cache_seconds_per_example"] = enc_seconds[0] / len(timed)
    out["speedup"] = out["ours"]["step_tokens_per_s"] / out["baseline"]["step_tokens_per_s"]
    out.update(n_examples_timed=len(timed), n_train_steps=len(split), non_embedding_params=dict(encoder=n_enc, decoder=n_dec))
    return out


def latent_generation(model: SSAE, z_hat, ctx, new_tokens: int, device, dtype) -> dict:
    "Greedy tokens from `z_hat` after each context, two ways: `greedy_decode` (ours) and `generate` with its KV cache."
    embeds, attn = latent_prompt(model, model.prefix(z_hat), ctx)
    never = torch.zeros(model.decoder.config.vocab_size, dtype=torch.bool)   # no stop token: every row decodes `new_tokens`
    def ours():
        with autocast(device, dtype): return greedy_decode(model.decoder, embeds, attn, never, new_tokens)
    def generate():   # eos_token_id=None: `generate` must not stop at eos either
        with autocast(device, dtype):
            out = model.decoder.generate(inputs_embeds=embeds, attention_mask=attn, max_new_tokens=new_tokens, do_sample=False,
                                         eos_token_id=None, pad_token_id=model.config.pad_token_id)
        return out.tolist()
    return dict(greedy_decode=ours, generate=generate)


def common_prefix(a: list, b: list) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def interleaved(fns: dict, reps: int, device) -> tuple[dict, dict]:
    "Each function's outputs (after one untimed warm-up) and its wall times over `reps` rounds, the functions alternating."
    outputs, seconds = {n: f() for n, f in fns.items()}, {n: [] for n in fns}
    for _ in range(reps):
        for n, f in fns.items():
            with timer(device, seconds[n]): f()
    return outputs, seconds


def bench_generation(model: SSAE, split, tok, args, device, dtype) -> dict:
    model.eval()
    idx = np.random.default_rng(args.seed + 1).choice(len(split), args.gen_batch, replace=False).tolist()
    ctx = [split.steps.ctx_ids[i] for i in idx]
    with torch.no_grad():
        with autocast(device, dtype): h = model.encoder_states(split.steps.batch(idx, device))
        z_hat = model.sparse_code(h.float())
        # Same tokens in fp32 (asserted); in bf16 the two paths' matmul shapes differ, so rounding may flip near-tied argmaxes.
        check = {n: f() for n, f in latent_generation(model, z_hat, ctx, args.check_tokens, device, torch.float32).items()}
        assert check["generate"] == check["greedy_decode"], "greedy_decode and generate disagree in fp32"
        outputs, seconds = interleaved(latent_generation(model, z_hat, ctx, args.gen_tokens, device, dtype), args.gen_reps, device)
    n = sum(len(t) for t in outputs["greedy_decode"])
    runs = {k: dict(seconds_min=min(v), seconds_median=float(np.median(v)), tokens_per_s=n / float(np.median(v))) for k, v in seconds.items()}
    return dict(runs, max_new_tokens=args.gen_tokens, reps=args.gen_reps, context_tokens=[len(c) for c in ctx],
                new_tokens_per_row=[len(t) for t in outputs["greedy_decode"]], fp32_identical_tokens=args.check_tokens,
                bf16_agreeing_tokens_per_row=[common_prefix(a, b) for a, b in zip(outputs["greedy_decode"], outputs["generate"])],
                speedup=runs["greedy_decode"]["tokens_per_s"] / runs["generate"]["tokens_per_s"])


def bench_next_steps(p: Preset, tok, args, device, dtype) -> dict:
    lm, _ = load_lm(p.base_model, device, seed=p.seed)
    data = eval_set(p, "gsm8k", tok, 50)
    idx = np.random.default_rng(args.seed + 2).choice(len(data), args.next_batch, replace=False).tolist()
    prompts = [next_step_prompt(tok, data.questions[data.examples[i].problem_id], data.examples[i]) for i in idx]
    ids, mask = left_pad(prompts, tok.pad_token_id, device)
    stop = stop_token_mask(tok, lm.config.vocab_size)
    stop_ids = stop.nonzero()[:, 0].tolist()
    def ours():
        return greedy_decode(lm, lm.get_input_embeddings()(ids), mask, stop, args.next_tokens)
    def generate():   # rows trimmed after their first stop token, as greedy_decode returns them
        out = lm.generate(ids, attention_mask=mask, max_new_tokens=args.next_tokens, do_sample=False, eos_token_id=stop_ids,
                          pad_token_id=tok.pad_token_id)[:, ids.shape[1]:].tolist()
        return [row[: next((i + 1 for i, t in enumerate(row) if stop[t]), len(row))] for row in out]
    with torch.no_grad(), autocast(device, dtype):
        outputs, seconds = interleaved(dict(generate=generate, greedy_decode=ours), args.next_reps, device)
    runs = {name: dict(seconds_per_batch=float(np.median(s))) for name, s in seconds.items()}
    return dict(runs, batch=args.next_batch, max_new_tokens=args.next_tokens, prompt_tokens=[len(q) for q in prompts],
                new_tokens_per_row=[len(t) for t in outputs["greedy_decode"]],
                identical_rows=sum(a == b for a, b in zip(outputs["generate"], outputs["greedy_decode"])),
                speedup=runs["generate"]["seconds_per_batch"] / runs["greedy_decode"]["seconds_per_batch"])


def bench_shared_prompts(p: Preset, tok, args, device, dtype) -> dict:
    data = eval_set(p, "gsm8k", tok, args.shared_problems)
    idx = list(range(len(data)))
    prompts = [next_step_prompt(tok, data.questions[data.examples[i].problem_id], data.examples[i]) for i in idx]
    fp32_lm, _ = load_lm(p.base_model, device, seed=p.seed)
    cast_lm = copy.deepcopy(fp32_lm).to(dtype)
    stop = stop_token_mask(tok, fp32_lm.config.vocab_size)
    def per_row():   # the features chapter before: one prompt per row, batches of similar length
        out = {}
        for b in bucket_batches([len(q) for q in prompts], args.next_batch, seed=0, shuffle=False):
            ids, mask = left_pad([prompts[i] for i in b], tok.pad_token_id, device)
            with autocast(device, dtype):
                out.update(zip(b, greedy_decode(fp32_lm, fp32_lm.get_input_embeddings()(ids), mask, stop, args.next_tokens)))
        return [first_line(tok.decode(out[i], skip_special_tokens=True)) for i in idx]
    def shared():
        return sample_next_steps(cast_lm, tok, data, idx, args.next_batch, args.next_tokens, dtype)
    with torch.no_grad():
        outputs, seconds = interleaved(dict(per_row=per_row, shared=shared), args.next_reps, device)
    problems = {}
    for q, e in zip(prompts, data.examples): problems[e.problem_id] = max(problems.get(e.problem_id, 0), len(q))
    runs = {name: dict(seconds=float(np.median(s))) for name, s in seconds.items()}
    return dict(runs, problems=args.shared_problems, rows=len(idx), prompt_tokens_per_row=sum(map(len, prompts)),
                prompt_tokens_shared=sum(problems.values()), identical_rows=sum(a == b for a, b in zip(outputs["per_row"], outputs["shared"])),
                speedup=runs["per_row"]["seconds"] / runs["shared"]["seconds"])


def markdown(r: dict) -> str:
    t, g, ns, sp = r["training"], r["generation"], r["next_steps"], r["shared_prompts"]
    o, b = t["ours"], t["baseline"]
    rows = [
        ("phase-1 throughput (step tokens/s)", f"{b['step_tokens_per_s']:.1f}", f"{o['step_tokens_per_s']:.1f}", f"**{t['speedup']:.2f}x**"),
        ("padding fraction, timed batches / whole split", f"{b['padding_fraction_timed']:.2f} / {b['padding_fraction_split']:.2f}",
         f"{o['padding_fraction_timed']:.2f} / {o['padding_fraction_split']:.2f}", ""),
        ("model GFLOP per update", f"{b['model_gflop_per_update']:.0f}", f"{o['model_gflop_per_update']:.0f}",
         f"{b['model_gflop_per_update'] / o['model_gflop_per_update']:.2f}x fewer"),
        ("achieved GFLOP/s (MFU)", f"{b['achieved_gflop_per_s']:.0f} ({b['mfu']:.1%})", f"{o['achieved_gflop_per_s']:.0f} ({o['mfu']:.1%})", ""),
        ("encoder states, one-off (ms per example)", "every update", f"{1000 * o['encoder_cache_seconds_per_example']:.0f}", ""),
        (f"latent-conditioned generation, {g['max_new_tokens']} new tokens x {len(g['context_tokens'])} (tokens/s)",
         f"{g['generate']['tokens_per_s']:.1f} (`generate`)", f"{g['greedy_decode']['tokens_per_s']:.1f}", f"**{g['speedup']:.2f}x**"),
        (f"next steps of {ns['batch']} GSM8K test contexts (s per batch)", f"{ns['generate']['seconds_per_batch']:.2f} (`generate`)",
         f"{ns['greedy_decode']['seconds_per_batch']:.2f}", f"**{ns['speedup']:.2f}x**"),
        (f"next steps of all {sp['rows']} steps of {sp['problems']} GSM8K test problems (s)", f"{sp['per_row']['seconds']:.2f} (a prompt per row)",
         f"{sp['shared']['seconds']:.2f}", f"**{sp['speedup']:.2f}x**"),
    ]
    lines = [f"# Benchmarks, {r['preset']} preset ({r['model']}, {r['dtype']} autocast, torch threads: {r['threads']})", "",
             "| measure | reference-style baseline | ssae | ratio |", "| --- | --- | --- | --- |",
             *(f"| {' | '.join(row)} |" for row in rows), "",
             f"- Training: {r['args']['updates']} timed updates of batch {r['args']['batch_size']} per method "
             f"({t['n_examples_timed']} GSM8K train steps, {o['step_tokens']} step tokens) after {r['args']['warmup']} warm-up; "
             "ours = bucketed batches + cached encoder states + shared-context decoder; baseline = random batches + encoder "
             "every step + per-example gather loop + full decoder recomputation under autograd.",
             f"- bf16 matmul peak ({r['args']['matmul_size']}^3): {r['matmul_peak_gflop_per_s']:.0f} GFLOP/s. {FLOP_FORMULA}",
             f"- Generation: greedy from an SSAE prefix after real contexts of {g['context_tokens']} tokens, no stop token, "
             f"{sum(g['new_tokens_per_row'])} tokens per batch; baseline: transformers' `generate` with its KV cache on the same "
             f"input embeddings and mask; ours: `greedy_decode` (a `DynamicCache` driven directly, positions counting real tokens). "
             f"Both give identical tokens in fp32 (asserted on the first {g['fp32_identical_tokens']}); in bf16 they agree on the first "
             f"{g['bf16_agreeing_tokens_per_row']} tokens of each row (other matmul shapes round differently); median of {g['reps']} "
             f"interleaved batches (min: {g['generate']['seconds_min']:.2f} s `generate`, {g['greedy_decode']['seconds_min']:.2f} s ours).",
             f"- Next steps: greedy, stop at eos or a newline, at most {ns['max_new_tokens']} tokens; prompts of "
             f"{min(ns['prompt_tokens'])}-{max(ns['prompt_tokens'])} tokens; new tokens per row {ns['new_tokens_per_row']}; "
             f"`generate` decodes every row until the last stops, `greedy_decode` drops finished rows; "
             f"{ns['identical_rows']} of {ns['batch']} rows identical (bf16); median of {r['args']['next_reps']} interleaved batches.",
             f"- Every step: `sample_next_steps` (a problem's nested prompts prefilled once: {sp['prompt_tokens_shared']} prompt tokens "
             f"instead of {sp['prompt_tokens_per_row']}; weights held in bf16; a blank line before a step does not end it) against the path "
             f"before: a prompt per row, fp32 weights cast by autocast at every token, a blank line ends a step; batches of {r['args']['next_batch']} rows; {sp['identical_rows']} of {sp['rows']} steps identical "
             f"(bf16 rounding and the blank-line rule differ); median of {r['args']['next_reps']} interleaved runs.",
             f"- Load average (1 min) before / after: {r['load_before'][0]:.2f} / {r['load_after'][0]:.2f} on {r['cpus']} CPUs; "
             f"total {r['seconds']:.0f} s. Command: `{r['command']}`.", ""]
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    start, load_before = time.time(), os.getloadavg()
    p = get_preset(args.preset)
    device = pick_device(p.device); dtype = pick_dtype(device, p.dtype)
    torch.set_num_threads(pick_threads(args.threads))
    seed_everything(args.seed)
    print(f"loading {p.base_model} and the first {args.problems} GSM8K train problems", flush=True)
    tok = load_tokenizer(p.base_model)
    split = gsm8k_splits(p.replace(train_problems=args.problems), tok)["train"]
    model = SSAE.from_base(p.ssae_config(), device)
    assert model.shares_context, f"bench.py measures the shared-context decoder path, which the {p.name} preset does not take"
    peak = matmul_peak(args.matmul_size, args.matmul_reps, device)
    print(f"bf16 matmul peak {peak / 1e9:.0f} GFLOP/s; training", flush=True)
    training = bench_training(model, p.phase1, split, args, device, dtype, peak)
    print("generation", flush=True)
    generation = bench_generation(model, split, tok, args, device, dtype)
    print("next steps", flush=True)
    next_steps = bench_next_steps(p, tok, args, device, dtype)
    print("next steps of every step", flush=True)
    shared_prompts = bench_shared_prompts(p, tok, args, device, dtype)
    result = dict(preset=p.name, model=p.base_model, device=str(device), dtype=str(dtype).removeprefix("torch."),
                  threads=torch.get_num_threads(), cpus=os.cpu_count(), torch=torch.__version__, python=platform.python_version(),
                  args=vars(args), command=" ".join(["python", "tools/bench.py", *(sys.argv[1:] if argv is None else argv)]),
                  ssae=dataclasses.asdict(model.config), matmul_peak_gflop_per_s=peak / 1e9, flop_formula=FLOP_FORMULA,
                  training=training, generation=generation, next_steps=next_steps, shared_prompts=shared_prompts, load_before=load_before, load_after=os.getloadavg(),
                  seconds=time.time() - start)
    figs = figures_dir()
    save_json(figs / f"bench_{p.name}.json", result)
    text = markdown(result)
    atomic_write_text(figs / f"bench_{p.name}.md", text)
    print(text, flush=True)
    return result


if __name__ == "__main__":
    main()
