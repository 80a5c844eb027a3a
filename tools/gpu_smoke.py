"""The first thing to run on a CUDA machine (a few minutes): can it train and use the SSAE of a preset (default `paper`)?

Each step prints PASS, FAIL or SKIP (a step whose inputs failed), with what it measured:
  cuda        a CUDA device, and whether it computes in bf16
  hub-load    the preset's base model from the Hugging Face Hub (`load_lm`) onto the GPU
  train-1gpu  a few SSAE updates (phase 1, then phase 2 unless --phases 1) in bf16 on one GPU, through `train_ssae`, with the
              preset's batch size (so the peak memory is the real run's); a subprocess, so that a crash is reported, not fatal
  save-load   the model `train_ssae` saved, read back (`from_pretrained`) with the same weights; `save_pretrained` and back again
  decode      one validation step decoded greedily from its own code
  torchrun    the same training under `torchrun --nproc_per_node 2` when 2 GPUs exist; every rank must end with the same weights
The smoke run uses a small slice of GSM8K (`--set` changes anything, e.g. `--set phase1.batch_size=8`), writes under
`runs/<preset>/gpu-smoke/` (about 25 GB for the paper preset: checkpoints with optimizer states) and deletes it unless --keep.

Exit status: 0 when every step that ran passed, 1 when one failed, 2 when there is no CUDA device.
Usage: python tools/gpu_smoke.py [--preset paper] [--updates 3] [--phases 1,2] [--set FIELD=VALUE ...] [--nproc N] [--keep] [--show]
docs/gpu.md describes the steps and the paper preset's expected time and memory.
"""
import argparse, gc, math, os, shutil, subprocess, sys, time, traceback
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SmokeResult:
    "What a training worker reports to this script (`result.json`, written and read by the package's serializer)."
    seconds: float        # training time in the worker, loading included
    peak_bytes: int       # peak CUDA memory of rank 0
    world_size: int       # processes that trained
    checksums: list       # a checksum of the trained weights per rank (`RunSummary.rank_param_checksums`)
    prior: bool           # phase 2 ran (the summary has the prior's report)


def smoke_overrides(updates: int) -> list[str]:
    "A small GSM8K slice and a few updates per phase, every update with accumulation, in bf16; batch sizes stay the preset's."
    per_phase = [f"{ph}.{k}" for ph in ("phase1", "phase2") for k in ("updates", "eval_every", "ckpt_every")]
    return (["train_problems=64", "eval_problems=8", "val_fraction=0.125", "dtype=bf16", "device=cuda"]
            + [f"{k}={updates if k.startswith('phase1') else max(1, updates - 1)}" for k in per_phase]
            + [f"{ph}.{k}" for ph in ("phase1", "phase2") for k in ("eval_examples=16", "grad_accum=2", "warmup=1")])


def smoke_preset(args):
    from ssae.core import get_preset
    return get_preset(args.preset).override(*smoke_overrides(args.updates), *args.set)


def report(status: str, step: str, detail: str = "", seconds: float | None = None) -> None:
    print(f"{status:<5} {step:<11} {detail}" + (f" ({seconds:.1f} s)" if seconds is not None else ""), flush=True)


def checksum(module) -> float:
    "The sum of every saved (trainable) weight: equal for equal weights."
    from ssae.checkpoint import trainable_state
    return sum(t.double().sum().item() for t in trainable_state(module).values())


def gib(n_bytes: float) -> str: return f"{n_bytes / 2**30:.1f} GiB"


def worker(args) -> None:
    "Train the smoke preset into `args.out` (as one process, or as one rank under torchrun); rank 0 writes result.json."
    import torch
    from ssae.evaluate import write_json
    from ssae.train import train_ssae
    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))   # before anything touches CUDA: each rank on its own GPU
    p = smoke_preset(args)
    torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    summary = train_ssae(p, Path(args.out), phases=tuple(int(x) for x in args.phases.split(",")), test=False)
    rank = int(os.environ.get("RANK", 0))
    peak = torch.cuda.max_memory_allocated()
    if rank == 0:
        write_json(Path(args.out) / "result.json", SmokeResult(seconds=time.time() - t0, peak_bytes=peak, world_size=summary.world_size,
                                                               checksums=summary.rank_param_checksums, prior=summary.prior is not None))


def run_training(args, out: Path, nproc: int) -> tuple[bool, str, SmokeResult | None]:
    "Run `worker` in a subprocess (under torchrun when `nproc` > 1); (ok, message, result)."
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    launch = [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    cmd = [*launch, str(Path(__file__).resolve()), "--worker", "--out", str(out), "--preset", args.preset, "--updates", str(args.updates),
           "--phases", args.phases, *(["--set", *args.set] if args.set else [])]
    res = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"SSAE_QUIET": "1"})
    if res.returncode or not (out / "result.json").exists():
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-15:])
        return False, f"exit status {res.returncode}:\n{tail}", None
    from ssae.evaluate import read_json
    return True, "", read_json(SmokeResult, out / "result.json")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[1:]))
    ap.add_argument("--preset", default="paper", help="the preset whose model and settings are tried (default paper)")
    ap.add_argument("--updates", type=int, default=3, help="phase-1 updates (phase 2 gets one less, at least 1)")
    ap.add_argument("--phases", default="1,2", choices=["1", "1,2"], metavar="1|1,2", help="train phase 1 only, or both phases")
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="more preset overrides, applied after the smoke ones")
    ap.add_argument("--nproc", type=int, default=None, help="processes for the torchrun step (default: 2 when 2 GPUs exist; 1 skips it)")
    ap.add_argument("--out", default=None, help="working folder (default runs/<preset>/gpu-smoke)")
    ap.add_argument("--keep", action="store_true", help="keep the trained models and checkpoints")
    ap.add_argument("--show", action="store_true", help="print the smoke preset's settings and exit (needs no GPU)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.updates < 1: ap.error("--updates must be >= 1")
    if args.worker: worker(args); return 0
    if args.show:
        p = smoke_preset(args)
        print(f"preset {p.name} with: {' '.join(smoke_overrides(args.updates) + args.set)}")
        print(f"base model {p.base_model}; phase 1: {p.phase1.updates} updates of {p.phase1.batch_size} x {p.phase1.grad_accum} steps, "
              f"phase 2: {p.phase2.updates} updates; {p.dtype} on {p.device}")
        return 0

    import torch
    failed = False
    t0 = time.time()
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        report("FAIL", "cuda", f"no CUDA device: torch {torch.__version__} is {build}, torch.cuda.is_available() is False. "
               "This smoke test needs an NVIDIA GPU (and a CUDA build of torch: `make install` picks it when nvidia-smi exists).")
        return 2
    n_gpu = torch.cuda.device_count()
    props = torch.cuda.get_device_properties(0)
    bf16 = torch.cuda.is_bf16_supported()
    report("PASS" if bf16 else "FAIL", "cuda", f"{n_gpu} x {props.name} ({gib(props.total_memory)}), bf16 {'yes' if bf16 else 'NO'}, "
           f"torch {torch.__version__}, CUDA {torch.version.cuda}", time.time() - t0)
    if not bf16:
        print("      this GPU has no bf16; fp16 training needs a gradient scaler the training loop does not have yet")
        return 1

    p = smoke_preset(args)
    from ssae.core import run_dir
    work = Path(args.out) if args.out else run_dir(p, "gpu-smoke")
    t0 = time.time()
    try:
        from ssae.models import load_lm
        torch.cuda.reset_peak_memory_stats()
        lm, tok = load_lm(p.base_model, "cuda")
        n = sum(t.numel() for t in lm.parameters())
        report("PASS", "hub-load", f"{p.base_model}: {n / 1e6:.0f}M parameters, vocabulary {len(tok)}, {gib(torch.cuda.max_memory_allocated())} on the GPU",
               time.time() - t0)
        del lm; gc.collect(); torch.cuda.empty_cache()
    except Exception as e:
        report("FAIL", "hub-load", f"{type(e).__name__}: {e}", time.time() - t0)
        return 1

    one = work / "1gpu"
    t0 = time.time()
    ok, msg, res = run_training(args, one, 1)
    if ok:
        report("PASS", "train-1gpu", f"{p.phase1.updates} + {p.phase2.updates if res.prior else 0} updates ({p.phase1.batch_size} x "
               f"{p.phase1.grad_accum} steps each), bf16, peak {gib(res.peak_bytes)}", time.time() - t0)
    else:
        report("FAIL", "train-1gpu", msg, time.time() - t0); failed = True

    model = prior = None
    if ok:
        t0 = time.time()
        try:
            from ssae.evaluate import RunSummary, read_json
            from ssae.hub import from_pretrained, save_pretrained
            model, prior = from_pretrained(one / "model", device="cuda")
            got, want = checksum(model), res.checksums[0]
            if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-6): raise AssertionError(f"weights differ: checksum {got} != {want}")
            again_dir = save_pretrained(model, one / "pretrained", prior, metrics=read_json(RunSummary, one / "summary.json"),
                                        command="python tools/gpu_smoke.py " + " ".join(sys.argv[1:]))
            again, _ = from_pretrained(again_dir, device="cuda")
            if checksum(again) != got: raise AssertionError("save_pretrained -> from_pretrained changed the weights")
            del again; gc.collect(); torch.cuda.empty_cache()
            report("PASS", "save-load", f"{one / 'model'} and save_pretrained -> from_pretrained: the same weights", time.time() - t0)
        except Exception as e:
            report("FAIL", "save-load", f"{type(e).__name__}: {e}", time.time() - t0); failed = True; model = prior = None
        t0 = time.time()
        if model is None: report("SKIP", "decode", "no model loaded")
        else:
            try:
                from ssae.core import autocast
                from ssae.segment import gsm8k_splits
                from ssae.ssae import reconstruct
                val = gsm8k_splits(p, tok)["val"]
                batch = val.steps.batch([0], "cuda")
                with torch.no_grad(), autocast("cuda", torch.bfloat16): z_hat = model.sparse_code(model.encoder_states(batch))
                text = reconstruct(model, tok, [val.steps.ctx_ids[0]], z_hat.float(), 1, 32, torch.bfloat16)[0]
                want = tok.decode(val.steps.step_ids[0], skip_special_tokens=True).strip()
                report("PASS", "decode", f"step {want!r} -> {text!r} (after {p.phase1.updates} updates: any text passes)", time.time() - t0)
            except Exception as e:
                report("FAIL", "decode", f"{type(e).__name__}: {e}", time.time() - t0); failed = True
        del model, prior; gc.collect(); torch.cuda.empty_cache()
    else:
        report("SKIP", "save-load", "training failed"); report("SKIP", "decode", "training failed")
    if not args.keep: shutil.rmtree(one, ignore_errors=True)

    nproc = args.nproc if args.nproc is not None else min(2, n_gpu)
    if nproc < 2: report("SKIP", "torchrun", f"{n_gpu} GPU" + ("s" if n_gpu != 1 else "") + (" (needs 2)" if n_gpu < 2 else " (--nproc 1)"))
    elif nproc > n_gpu: report("FAIL", "torchrun", f"--nproc {nproc} but {n_gpu} GPUs"); failed = True
    else:
        t0 = time.time()
        ok, msg, res = run_training(args, work / "torchrun", nproc)
        if ok and len(set(res.checksums)) > 1: ok, msg = False, f"the ranks' weights differ: checksums {res.checksums}"
        if ok: report("PASS", "torchrun", f"{nproc} processes, {p.phase1.updates} updates, the ranks' weights equal, peak {gib(res.peak_bytes)} on rank 0",
                      time.time() - t0)
        else: report("FAIL", "torchrun", msg, time.time() - t0); failed = True
        if not args.keep: shutil.rmtree(work / "torchrun", ignore_errors=True)
    print("FAIL: see the lines above" if failed else "PASS: this machine trains and uses the SSAE of the preset", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    try: sys.exit(main())
    except KeyboardInterrupt: sys.exit(130)
    except Exception:
        traceback.print_exc(); sys.exit(1)
