"""Which label-producing passes give other outputs for the same inputs.

Each pass runs on the same inputs twice, nothing cached (caches go to a fresh folder), and once more in other batches
(another batch size, the rows in another order, or each question alone), and the outputs are compared exactly:
  next-steps  07: the base model's greedy next step of each held-out GSM8K step (`sample_next_steps`) and its correctness
              label (NumericJudge), Table 1's `sampled_correct`
  reconstruct 04/07: the step decoded greedily from each step's own code (`reconstruct_steps`) and its label (`recon_correct`)
  codes       04/07/10: encoder states and sparse codes of every step (`encode_split`, a step per pass, `sparse_code`): the
              probes' features; the other batches are the steps in another order and another batch size
  step-codes  12: the codes of sampled solutions' steps (`step_states` of the SSAE: a sample per pass; the samples in
              another order, and for reference 4 samples per pass)
  judge       07/11: the local judge's logicality verdicts and probabilities (`LocalJudge`, a prompt per pass), Table 1's
              `logical`; the other batches are the items in reverse order, one per call, and for reference the prompts
              scored together in batches (`reply_logprobs` of several prompts, the old layout)
  sampling    12: k samples per question (`sample_rows`) and their log-probabilities; and, for reference, `generate`
              seeded per call (`sample_solutions`)
  greedy      12: greedy solutions (`sample_rows(greedy=True)`), the Greedy rows of Table 4
  n2g         10: the N2G search (`mine`): each top example's shortest suffix and pattern
Prints, per pass, how many outputs differ on the rerun and in the other batches, and exits 1 if any does.
Usage: python tools/determinism_audit.py --preset tiny|cpu [--only PASS,...] [--problems N] [--dtype auto|bf16|fp32]
Keep the cpu preset small (a few problems, one or two passes at a time): every pass runs three times.
"""
import argparse, copy, dataclasses, json, os, sys, tempfile, time
from pathlib import Path

PASSES = ("next-steps", "reconstruct", "codes", "step-codes", "sampling", "greedy", "n2g", "judge")


def count(a: list, b: list) -> int:
    "Items that differ between two equally long lists."
    return sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b))


def report(name: str, n: int, again: int, other: int, what: str, extra: str = "", seconds: float = 0.0) -> dict:
    print(f"{name:12s} {n:4d} {what}: {again} differ when run again, {other} in other batches{extra} ({seconds:.0f} s)", flush=True)
    return dict(n=n, what=what, again=again, other_batches=other, note=extra.strip("; "), seconds=round(seconds, 1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--only", default=",".join(PASSES), help=f"comma-separated passes of {PASSES}")
    ap.add_argument("--problems", type=int, default=None, help="held-out GSM8K problems (default: 4 tiny, 2 cpu)")
    ap.add_argument("--questions", type=int, default=2, help="questions sampled (sampling, greedy)")
    ap.add_argument("--tokens", type=int, default=None, help="new tokens per sample (default: the preset's, at most 24)")
    ap.add_argument("--dtype", default="auto", help="auto (the preset's), bf16 or fp32")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    only = args.only.split(",")
    unknown = set(only) - set(PASSES)
    if unknown: ap.error(f"unknown passes {sorted(unknown)}; choose from {PASSES}")
    os.environ["SSAE_RUN_DIR"] = tempfile.mkdtemp(prefix="ssae-audit-")   # nothing read back from an earlier run
    os.environ.setdefault("SSAE_QUIET", "1")

    import numpy as np, torch
    from ssae.core import Sampling, autocast, get_preset
    from ssae.data import load_benchmark
    from ssae.features import eval_set, reconstruct_steps, sample_next_steps
    from ssae.generation import sample_rows, sample_solutions
    from ssae.judge import CRITERIA, JudgeItem, LocalJudge, NumericJudge, judge_messages, reply_logprobs
    from ssae.models import chat_prompt_ids, load_lm, load_tokenizer
    from ssae.n2g import Example, encoder_input, mine, rank_latents, ssae_activation, top_rows
    from ssae.segment import make_step_examples, tokenize_steps
    from ssae.ssae import SSAE
    from ssae.checkpoint import default_checkpoint, encode_split, load_ssae
    from ssae.voting import CONTEXT_BUDGET, solve_prompt, step_states

    p = get_preset(args.preset)
    device, dtype = p.runtime()
    if args.dtype != "auto": dtype = dict(bf16=torch.bfloat16, fp32=torch.float32)[args.dtype]
    problems = args.problems or (4 if p.base_model == "tiny" else 2)
    print(f"preset {p.name}, {p.base_model}, {dtype}, {torch.get_num_threads()} threads, {problems} GSM8K test problems", flush=True)
    tok = load_tokenizer(p.base_model)
    ckpt = default_checkpoint(p)
    model = load_ssae(ckpt, device)[0] if ckpt else SSAE.from_base(p.ssae_config(), device).eval()
    data = eval_set(p, "gsm8k", tok, problems)
    n = len(data)
    rows = list(range(n))
    batch = p.features.batch_size
    judge = NumericJudge()
    labels = lambda steps: [j.label for j in judge.judge([JudgeItem(e.context, s, reference_step=e.step) for e, s in zip(data.examples, steps)], "correctness")]
    results = {}

    def codes_of(batch_size: int, order: list[int] | None = None) -> dict:
        "States and codes of every step, in step order; `order`: the steps encoded in that order instead."
        split = data.split if order is None else data.split.subset(order)
        with tempfile.TemporaryDirectory() as cache:
            states = encode_split(model, split, Path(cache), device=device, dtype=dtype)
        h = states["h_step"]
        if order is not None: h = torch.empty_like(h).index_copy_(0, torch.tensor(order), h)
        with torch.no_grad(): z = model.sparse_code(h.to(device)).cpu()
        return dict(h=h, z=z)
    z_hat = None
    if "codes" in only or "reconstruct" in only or "n2g" in only:
        t = time.time()
        a = codes_of(batch)
        z_hat = a["z"]
        if "codes" in only:
            b, c = codes_of(batch), codes_of(max(1, batch // 4 + 1), rows[::-1])
            differ = lambda x, y, key: int((x[key] != y[key]).any(1).sum())
            support = lambda x, y: int(((x["z"] > 0) != (y["z"] > 0)).any(1).sum())
            results["codes"] = report("codes", n, differ(a, b, "h"), differ(a, c, "h"), "steps' encoder states",
                                      f"; codes: {differ(a, b, 'z')} / {differ(a, c, 'z')} differ, active latents of "
                                      f"{support(a, b)} / {support(a, c)} steps; max |dh| in other batches "
                                      f"{(a['h'] - c['h']).abs().max().item():.2e}", time.time() - t)

    if "next-steps" in only:
        t = time.time()
        lm = load_lm(p.base_model, device, seed=p.seed)[0].to(dtype)
        tokens = min(p.max_step_tokens, args.tokens or 64)
        a = sample_next_steps(lm, tok, data, rows, batch, tokens, dtype)
        b = sample_next_steps(lm, tok, data, rows, batch, tokens, dtype)
        c = dict(zip(rows[::-1], sample_next_steps(lm, tok, data, rows[::-1], max(1, batch // 4 + 1), tokens, dtype)))
        c = [c[i] for i in rows]
        la, lb, lc = labels(a), labels(b), labels(c)
        results["next-steps"] = report("next-steps", n, count(a, b), count(a, c), "next steps",
                                       f"; correctness labels: {count(la, lb)} / {count(la, lc)} differ", time.time() - t)
        del lm

    if "reconstruct" in only:
        t = time.time()
        dec = copy.deepcopy(model); dec.decoder.to(dtype)
        a = reconstruct_steps(dec, tok, data.split, z_hat, rows, batch, dtype)
        b = reconstruct_steps(dec, tok, data.split, z_hat, rows, batch, dtype)
        c = dict(zip(rows[::-1], reconstruct_steps(dec, tok, data.split, z_hat, rows[::-1], max(1, batch // 4 + 1), dtype)))
        c = [c[i] for i in rows]
        la, lb, lc = labels(a), labels(b), labels(c)
        results["reconstruct"] = report("reconstruct", n, count(a, b), count(a, c), "decoded steps",
                                        f"; correctness labels: {count(la, lb)} / {count(la, lc)} differ", time.time() - t)
        del dec

    if "sampling" in only or "greedy" in only or "step-codes" in only:
        lm = load_lm(p.base_model, device, seed=p.seed)[0].to(dtype)
        cfg = p.voting.sampling
        cfg = dataclasses.replace(cfg, k=min(cfg.k, 4), max_new_tokens=min(cfg.max_new_tokens, args.tokens or 24))
        recs = load_benchmark("gsm8k", "test", limit=args.questions)
        ids, prompts = [r.id for r in recs], [solve_prompt(tok, r.question, cfg.prompt) for r in recs]
        samples = None
        if "sampling" in only or "step-codes" in only:
            t = time.time()
            a, b = sample_rows(lm, tok, prompts, cfg, 0, keys=ids), sample_rows(lm, tok, prompts, cfg, 0, keys=ids)
            alone = [sample_rows(lm, tok, [q], cfg, 0, keys=[i]) for q, i in zip(prompts, ids)]
            c = ([s for x in alone for s in x[0]], [l for x in alone for l in x[1]])
            flat = lambda r: [s for q in r[0] for s in q]
            old_a = sample_solutions(lm, tok, prompts, cfg, 0)
            old_c = [sample_solutions(lm, tok, [q], cfg, 0)[0] for q in prompts]
            old = count([s for q in old_a for s in q], [s for q in old_c for s in q])
            samples = a[0]
            if "sampling" in only:
                results["sampling"] = report("sampling", len(flat(a)), count(flat(a), flat(b)), count(flat(a), [s for q in c[0] for s in q]),
                                             "samples", f"; log-probabilities: {count(a[1], b[1])} / {count(a[1], c[1])} questions differ; "
                                             f"`generate` seeded per call (the old path): {old} of {len(flat(a))} samples differ "
                                             f"between the questions together and alone", time.time() - t)
        if "greedy" in only:
            t = time.time()
            g = lambda qs: [x[0] for x in sample_rows(lm, tok, qs, cfg, 0, greedy=True)[0]]
            a, b = g(prompts), g(prompts)
            c = [g([q])[0] for q in prompts]
            results["greedy"] = report("greedy", len(a), count(a, b), count(a, c), "greedy solutions", "", time.time() - t)
        del lm
        if "step-codes" in only:
            t = time.time()
            texts = [tok.decode(s, skip_special_tokens=True) for q in samples for s in q]
            qs = [r.question for r in recs for _ in range(cfg.k)]
            ex, owner = [], []
            for j, (q, text) in enumerate(zip(qs, texts)):
                e = make_step_examples(q, [l.strip() for l in text.split("\n") if l.strip()], f"s{j}")
                ex += e; owner += [j] * len(e)
            steps = tokenize_steps(ex, tok, CONTEXT_BUDGET, p.max_step_tokens)
            if len(steps):
                enc = lambda st, own, groups: step_states(model, st, own, groups, shared=True, device=device, dtype=dtype)
                perm = sorted(range(len(owner)), key=lambda i: (-owner[i], i))   # the samples in the reverse order
                rev = dataclasses.replace(steps, ctx_ids=[steps.ctx_ids[i] for i in perm], step_ids=[steps.step_ids[i] for i in perm])
                a, b = enc(steps, owner, 1), enc(steps, owner, 1)
                c = torch.empty_like(a); c[perm] = enc(rev, [owner[i] for i in perm], 1)
                four = enc(steps, owner, 4)
                za, zb, zc, z4 = (model.sparse_code(x.to(device)).cpu() for x in (a, b, c, four))
                d = lambda x, y: int((x != y).any(1).sum())
                results["step-codes"] = report("step-codes", len(a), d(a, b), d(a, c), "sampled steps' states",
                                               f"; codes {d(za, zb)} / {d(za, zc)} differ; with 4 samples per pass instead of 1, "
                                               f"{d(a, four)} states and {d(za, z4)} codes differ", time.time() - t)

    if "n2g" in only:
        t = time.time()
        cfg = p.n2g
        examples = []
        for latent in rank_latents(z_hat, 2):
            for r in top_rows(z_hat, latent)[:2]:
                ids_, sep = encoder_input(data.split, r)
                examples.append(Example(latent, r, ids_, sep, float(z_hat[r, latent])))
        if examples:
            run = lambda tokens: mine(ssae_activation(model, tokens, dtype), examples, cfg.threshold, cfg.into_context)
            a, b, c = run(cfg.batch_tokens), run(cfg.batch_tokens), run(max(64, cfg.batch_tokens // 8))
            key = lambda m: [(x["suffix"], x["suffix_bisect"], x["pattern"]) for x in m]
            results["n2g"] = report("n2g", len(a), count(key(a), key(b)), count(key(a), key(c)), "mined examples", "", time.time() - t)

    if "judge" in only:
        t = time.time()
        judge = LocalJudge(p.base_model, device=str(device), batch_size=batch)
        items = [JudgeItem(e.context, e.step) for e in data.examples]
        key = lambda js: [(j.label, j.p_positive) for j in js]
        a, b = key(judge.judge(items, "logicality")), key(judge.judge(items, "logicality"))
        c = key([judge.judge([i], "logicality")[0] for i in items[::-1]][::-1])
        crit = CRITERIA["logicality"]
        replies = [judge.reply_ids(crit.positive), judge.reply_ids(crit.negative)]
        ids = [chat_prompt_ids(judge.tokenizer, u, s_) for s_, u in (judge_messages(i, crit) for i in items)]
        with autocast(device, judge.dtype):
            old = torch.cat([reply_logprobs(judge.model, ids[s:s + batch], replies, judge.tokenizer.pad_token_id).cpu()
                             for s in range(0, len(ids), batch)])
        alone = judge.logprobs(items, crit)
        results["judge"] = report("judge", len(items), count(a, b), count(a, c), "logicality verdicts",
                                  f"; labels {count([x[0] for x in a], [x[0] for x in b])} / {count([x[0] for x in a], [x[0] for x in c])} "
                                  f"differ; scored in batches of {batch} (the old layout), {int((old != alone).any(1).sum())} items' "
                                  f"log-probabilities differ from a prompt per pass", time.time() - t)
        del judge

    if args.json: args.json.write_text(json.dumps(dict(preset=p.name, dtype=str(dtype), threads=torch.get_num_threads(), passes=results), indent=2) + "\n")
    bad = [k for k, r in results.items() if r["again"] or r["other_batches"]]
    print("differences in: " + ", ".join(bad) if bad else "no pass gave other outputs")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
