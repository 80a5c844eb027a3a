"""Benchmark the voting chapter's two hot paths (ssae.voting) on the preset's model.

1. Sampling throughput (new tokens per second, eos and padding after it not counted): `sample_solutions` (k rows per
   question, several questions per call, seeded) against transformers' `generate` called directly with the same batch,
   prompts and settings (temperature 0.7, top-p 0.9, top-k 200, repetition penalty 1.1). `sample_solutions` *is*
   `generate` plus bookkeeping, so the ratio measures that overhead; the teacher-forced pass that recomputes the
   base model's log-probabilities for the confidence vote is timed separately.
2. Step encoding: every step of a solution encoded from one pass over the solution's longest context (a KV cache
   shared by its steps, `step_states(shared=True)`) against encoding each `context <sep> step <eos>` alone
   (`shared=False`, what training does). Real GSM8K test solutions split into steps; the SSAE of
   `default_checkpoint`. The codes of both paths are asserted equal in fp32 (the assertion), then both are timed
   under the preset's autocast dtype.

Timings are reported, never asserted; methods are interleaved rep by rep so both see the same competing load.
Writes figures/bench_voting_<preset>.{md,json}.
Usage: python tools/bench_voting.py --preset cpu [--questions 2 --k 8 --new-tokens 64 --problems 24 --reps 2]
"""
import argparse, os, platform, time

import numpy as np
import torch

from ssae.core import Sampling, atomic_write_text, figures_dir, get_preset, markdown_table, pick_device, pick_dtype, save_json
from ssae.data import load_benchmark
from ssae.models import load_lm
from ssae.segment import make_step_examples, split_gsm8k, tokenize_steps
from ssae.ssae import SSAE, default_checkpoint, load_ssae
from ssae.voting import CONTEXT_BUDGET, mean_logprob, sample_solutions, solve_prompt, step_states


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--questions", type=int, default=2, help="GSM8K test questions per sampling call")
    ap.add_argument("--k", type=int, default=8, help="samples per question")
    ap.add_argument("--new-tokens", type=int, default=64, help="most new tokens per sample")
    ap.add_argument("--problems", type=int, default=24, help="GSM8K test solutions whose steps are encoded")
    ap.add_argument("--batch-groups", type=int, default=4, help="solutions encoded together")
    ap.add_argument("--reps", type=int, default=2, help="timed repetitions per method, interleaved")
    return ap.parse_args(argv)


def new_tokens(rows, eos: int) -> int:
    return sum(len(r[:r.index(eos) + 1]) if eos in r else len(r) for r in rows)


@torch.no_grad()
def bench_sampling(args, p, device, dtype) -> dict:
    lm, tok = load_lm(p.base_model, device, seed=p.seed)
    lm = lm.to(dtype)
    cfg = Sampling(k=args.k, max_new_tokens=args.new_tokens, prompt="chat")
    qs = [r.question for r in load_benchmark("gsm8k", "test", limit=args.questions)]
    prompts = [solve_prompt(tok, q, cfg.prompt) for q in qs]
    T = max(map(len, prompts))
    ids = torch.tensor([[tok.pad_token_id] * (T - len(x)) + x for x in prompts], device=device)
    mask = torch.tensor([[0] * (T - len(x)) + [1] * len(x) for x in prompts], device=device)

    def ours():
        out = sample_solutions(lm, tok, prompts, cfg, seed=0)
        return sum(new_tokens(o, tok.eos_token_id) for o in out), out

    def hf():
        torch.manual_seed(0)
        out = lm.generate(ids, attention_mask=mask, max_new_tokens=cfg.max_new_tokens, do_sample=True, temperature=cfg.temperature,
                          top_p=cfg.top_p, top_k=cfg.top_k, repetition_penalty=cfg.repetition_penalty, num_return_sequences=cfg.k,
                          eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)[:, T:].tolist()
        return new_tokens(out, tok.eos_token_id), out

    times = {"ours": [], "generate": []}
    toks = {}
    for rep in range(args.reps + 1):   # rep 0 warms up
        for name, fn in (("ours", ours), ("generate", hf)):
            t = time.perf_counter(); n, out = fn(); dt = time.perf_counter() - t
            if rep: times[name].append(dt); toks[name] = n
            if name == "ours": samples = out
    # same seed, same settings, same batch: the same tokens
    ref = hf()[1]
    cut = [r[:r.index(tok.eos_token_id) + 1] if tok.eos_token_id in r else r for r in ref]
    assert [s for q in samples for s in q] == cut, "sample_solutions and generate disagree for the same seed"
    t = time.perf_counter()
    for pr, s in zip(prompts, samples): mean_logprob(lm, pr, s, dtype)
    lp = time.perf_counter() - t
    rows = len(prompts) * cfg.k
    res = {name: dict(seconds=float(np.median(v)), tokens=toks[name], tokens_per_s=toks[name] / float(np.median(v))) for name, v in times.items()}
    return dict(rows=rows, new_tokens_cap=cfg.max_new_tokens, same_tokens=True, logprob_seconds=lp, **res)


@torch.no_grad()
def bench_encoding(args, p, device, dtype) -> dict:
    ckpt = default_checkpoint(p)
    model = load_ssae(ckpt, device)[0] if ckpt else SSAE.from_base(p.ssae_config(), device).eval()
    from ssae.models import load_tokenizer
    tok = load_tokenizer(p.base_model)
    recs = load_benchmark("gsm8k", "test", limit=args.problems)
    ex = [e for r in recs for e in make_step_examples(r.question, split_gsm8k(r.solution), r.id)]
    steps = tokenize_steps(ex, tok, CONTEXT_BUDGET, p.max_step_tokens)
    groups = [e.problem_id for e in ex]
    # the assertion: the same codes in fp32
    shared = step_states(model.encoder, steps, groups, args.batch_groups, shared=True, device=device, dtype=torch.float32)
    alone = step_states(model.encoder, steps, groups, args.batch_groups, shared=False, device=device, dtype=torch.float32)
    zs, za = model.sparse_code(shared.to(device)).cpu(), model.sparse_code(alone.to(device)).cpu()
    max_h, max_z = (shared - alone).abs().max().item(), (zs - za).abs().max().item()
    support = ((zs > 0) == (za > 0)).all(1).float().mean().item()
    assert torch.allclose(zs, za, atol=1e-4), f"shared-prefix codes differ from per-step codes by {max_z}"
    times = {"shared": [], "alone": []}
    for rep in range(args.reps + 1):
        for name, flag in (("shared", True), ("alone", False)):
            t = time.perf_counter(); step_states(model.encoder, steps, groups, args.batch_groups, shared=flag, device=device, dtype=dtype)
            if rep: times[name].append(time.perf_counter() - t)
    n_tok_alone = sum(steps.lengths)
    longest = {}
    for i, g in enumerate(groups): longest[g] = max(longest.get(g, 0), len(steps.ctx_ids[i]))
    n_tok_shared = sum(longest.values()) + sum(1 + len(s) for s in steps.step_ids)
    return dict(steps=len(ex), solutions=len(recs), tokens_alone=n_tok_alone, tokens_shared=n_tok_shared, max_abs_h_fp32=max_h,
                max_abs_z_fp32=max_z, same_support_fp32=support,
                **{name: dict(seconds=float(np.median(v)), steps_per_s=len(ex) / float(np.median(v))) for name, v in times.items()})


def main(argv=None):
    args = parse_args(argv)
    p = get_preset(args.preset)
    device = pick_device(p.device); dtype = pick_dtype(device, p.dtype)
    torch.manual_seed(0)
    t0, load_before = time.time(), os.getloadavg()
    s = bench_sampling(args, p, device, dtype)
    e = bench_encoding(args, p, device, dtype)
    out = dict(preset=p.name, dtype=str(dtype), machine=platform.processor() or platform.machine(), threads=torch.get_num_threads(),
               args=vars(args), sampling=s, encoding=e, seconds=round(time.time() - t0, 1),
               load_before=load_before, load_after=os.getloadavg())
    save_json(figures_dir() / f"bench_voting_{p.name}.json", out)
    rows = [dict(bench="sampling (tokens/s)", ours=f"{s['ours']['tokens_per_s']:.1f}", baseline=f"{s['generate']['tokens_per_s']:.1f}",
                 ratio=f"{s['ours']['tokens_per_s'] / s['generate']['tokens_per_s']:.2f}",
                 notes=f"sample_solutions vs generate, {s['rows']} rows ({args.questions} questions x k {args.k}), <= {args.new_tokens} new tokens, same tokens for the same seed; log-prob pass {s['logprob_seconds']:.1f} s"),
            dict(bench="step encoding (steps/s)", ours=f"{e['shared']['steps_per_s']:.1f}", baseline=f"{e['alone']['steps_per_s']:.1f}",
                 ratio=f"{e['alone']['seconds'] / e['shared']['seconds']:.2f}",
                 notes=f"shared prefix vs each step alone, {e['steps']} steps of {e['solutions']} GSM8K solutions, {e['tokens_shared']} vs {e['tokens_alone']} tokens; fp32 codes equal (max |dz| {e['max_abs_z_fp32']:.1e}, same support {e['same_support_fp32']:.3f})")]
    md = (f"Voting benchmarks ({p.name} preset, {dtype} autocast, {out['threads']} threads; load average (1 min) before / after {load_before[0]:.2f} / {out['load_after'][0]:.2f} on "
          f"{os.cpu_count()} CPUs; the ratios matter more than absolute numbers). Ratio > 1: ours faster. "
          f"Command: `python tools/bench_voting.py --preset {p.name}`.\n\n" + markdown_table(rows, ["bench", "ours", "baseline", "ratio", "notes"]))
    atomic_write_text(figures_dir() / f"bench_voting_{p.name}.md", md)
    print(md)
    return out


if __name__ == "__main__":
    main()
