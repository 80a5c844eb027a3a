"""Benchmark the batched N2G pattern search against the reference's one-example-one-position loop.

Both find the patterns of the same examples (the top-activating training steps of the latents with the largest summed
z_hat, as the pattern-mining chapter picks them) under the same rules (`ssae.n2g`): the shortest suffix of
`<sep> step <eos>` keeping half the full activation, then every position of it hidden alone.

- ours: `shortest_suffixes` (every suffix length of every example in length-packed batches) and `wildcards`
  (every single-position mask of every chosen suffix in length-packed batches);
- reference-style: `mine_one_by_one`, one example at a time, suffix lengths one by one from the shortest until one
  passes, then one masked position at a time, every forward pass a batch of one row (the reference script's loop).

The patterns must be identical (asserted). The search runs under the preset's autocast dtype, as in the chapter (bf16 on
this CPU); bf16 rounds a row in a batch slightly differently from the row alone, so should a threshold decision ever flip
on other examples, `--dtype fp32` compares the two paths without that (measured here: the same patterns in both dtypes,
10.6x in bf16 and 4.4x in fp32, where the batched passes cost more against the loop's per-pass overhead). The ratio is
printed and written, with the load average, to figures/bench_n2g_<preset>.md.

Usage: .venv/bin/python tools/bench_n2g.py --preset cpu [--latents 3] [--examples 4] [--dtype auto|bf16|fp32] [--threads 0]
"""
import argparse, os, time

import numpy as np
import torch

from ssae.core import atomic_write_text, figures_dir, get_preset, pick_device, pick_dtype, save_json, seed_everything
from ssae.models import load_tokenizer
from ssae.n2g import (Example, encoder_input, head_split, mine_one_by_one, rank_latents, shortest_suffixes, split_codes,
                      ssae_activation, token_batches, top_rows, wildcards)
from ssae.segment import gsm8k_splits
from ssae.ssae import SSAE, default_checkpoint, load_ssae


def counting(act, batch_tokens: int):
    "`act` that also counts the encoder passes (batches) it makes, the rows and the tokens."
    stats = dict(passes=0, rows=0, tokens=0)
    def wrapped(rows, latents, hide):
        stats["passes"] += len(token_batches([len(r) for r in rows], batch_tokens))
        stats["rows"] += len(rows); stats["tokens"] += sum(len(r) for r in rows)
        return act(rows, latents, hide)
    return wrapped, stats


def pick_threads(requested: int) -> int:
    """`requested` torch threads, or (0) as many as the cores other processes leave idle, at least one: as in tools/bench.py,
    two threads on a machine whose cores are busy wait for each other at every barrier and run several times slower than one."""
    if requested > 0: return requested
    return max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) - round(os.getloadavg()[0])))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--latents", type=int, default=3, help="top latents whose examples are searched")
    ap.add_argument("--examples", type=int, default=4, help="top examples per latent")
    ap.add_argument("--dtype", default="auto", choices=("fp32", "bf16", "auto"),
                    help="autocast dtype of the search, both paths (auto: the preset's, as the chapter runs; bf16 on this CPU)")
    ap.add_argument("--reps", type=int, default=2, help="timed runs of the batched search (the median is reported)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: the cores left idle by other processes)")
    args = ap.parse_args(argv)
    torch.set_num_threads(pick_threads(args.threads))
    p, t_start = get_preset(args.preset), time.time()
    load0 = os.getloadavg()[0]
    seed_everything(p.seed)
    device = pick_device(p.device)
    cfg = p.n2g
    ckpt = default_checkpoint(p)
    model = load_ssae(ckpt, device)[0] if ckpt else SSAE.from_base(p.ssae_config(), device).eval()
    tok = load_tokenizer(model.config.base_model)
    ranking = head_split(gsm8k_splits(p, tok)["train"], cfg.rank_steps)
    # the chapter's codes (its state cache is reused when the chapter has run)
    codes = split_codes(model, ranking, p, cfg.batch_size, device, pick_dtype(device, p.dtype))
    examples = [Example(j, r, *encoder_input(ranking, r), float(codes[r, j]))
                for j in rank_latents(codes, args.latents) for r in top_rows(codes, j)[:args.examples]]
    dtype = pick_dtype(device, args.dtype)
    act = ssae_activation(model, cfg.batch_tokens, dtype)
    act([examples[0].ids], [examples[0].latent], [-1])   # warm-up

    def batched():
        a, stats = counting(act, cfg.batch_tokens)
        t0 = time.perf_counter()
        patterns = wildcards(a, examples, shortest_suffixes(a, examples, cfg.threshold, cfg.into_context), cfg.threshold)
        return patterns, time.perf_counter() - t0, stats
    def one_by_one():
        a, stats = counting(act, cfg.batch_tokens)
        t0 = time.perf_counter()
        patterns = mine_one_by_one(a, examples, cfg.threshold, cfg.into_context)
        return patterns, time.perf_counter() - t0, stats

    runs = [batched() for _ in range(args.reps)]
    ours_patterns, ours_stats = runs[0][0], runs[0][2]
    ours_s = float(np.median([r[1] for r in runs]))
    ref_patterns, ref_s, ref_stats = one_by_one()
    assert ours_patterns == ref_patterns, f"the batched search found other patterns: {ours_patterns} vs {ref_patterns}"
    ratio = ref_s / ours_s
    n_pat = sum(pt is not None for pt in ours_patterns)
    step_tokens = [len(ranking.steps.step_ids[e.row]) for e in examples]
    load1 = os.getloadavg()[0]
    md = (f"# N2G pattern search, {p.name} preset ({model.config.base_model}, {str(dtype).replace('torch.', '')}, "
          f"torch threads: {torch.get_num_threads()})\n\n"
          "| measure | reference-style loop | ssae (batched) | ratio |\n| --- | --- | --- | --- |\n"
          f"| patterns of {len(examples)} examples ({args.latents} latents x {args.examples}) (s) | {ref_s:.2f} | {ours_s:.2f} | **{ratio:.2f}x** |\n"
          f"| encoder passes | {ref_stats['passes']} (one row each) | {ours_stats['passes']} (<= {cfg.batch_tokens} padded tokens each) |  |\n"
          f"| rows / tokens encoded | {ref_stats['rows']} / {ref_stats['tokens']} | {ours_stats['rows']} / {ours_stats['tokens']} |  |\n\n"
          f"- Same examples (the top {args.examples} training steps of each of the {args.latents} latents with the largest summed z_hat "
          f"over {len(ranking)} GSM8K training steps; steps of {min(step_tokens)}-{max(step_tokens)} tokens with eos), same rules "
          f"(threshold {cfg.threshold}, suffixes within `<sep> step <eos>`): **identical patterns asserted** ({n_pat} of "
          f"{len(examples)} examples give one). The batched search scans suffix lengths in growing windows (1-4, 5-12, ...) and "
          f"stops an example at the end of the window where one passes, so it encodes a few more rows than the loop, in far fewer passes.\n"
          f"- Batched: median of {args.reps} runs; loop: one run. Load average (1 min) before / after: {load0:.2f} / {load1:.2f} on "
          f"{os.cpu_count()} CPUs (a shared machine: the ratio is the robust number); total {time.time() - t_start:.0f} s.\n"
          f"- Command: `.venv/bin/python tools/bench_n2g.py --preset {p.name} --latents {args.latents} --examples {args.examples} --dtype {args.dtype}` "
          f"(torch threads: `--threads 0` picks the cores left idle).\n")
    out = figures_dir() / f"bench_n2g_{p.name}.md"
    atomic_write_text(out, md)
    save_json(figures_dir() / f"bench_n2g_{p.name}.json", dict(preset=p.name, examples=len(examples), ref_seconds=ref_s, ours_seconds=ours_s,
                                                              ratio=ratio, ref=ref_stats, ours=ours_stats, dtype=str(dtype), load=[load0, load1]))
    print(md)
    print(f"ratio {ratio:.2f}x")
    return ratio


if __name__ == "__main__": main()
