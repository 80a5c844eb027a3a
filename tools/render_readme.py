"""Render the README's results section from `figures/`, so that no number in it is typed by hand.

Replaces the text between `<!-- results:begin -->` and `<!-- results:end -->` in README.md with the
SSAE's held-out metrics against the SSAE issue's bar, the ablation table (validation), Table 1 (linear probes),
the claim-by-claim verdicts of the preset and the benchmarks.
Usage: python tools/render_readme.py [PRESET]   (`make reproduce` runs it)
"""
import json, re, sys
from pathlib import Path

from ssae.core import markdown_table
from ssae.train import quality_bar, recorded_rows

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
METRICS = ("info_shuffled_nats", "nll_reduction", "nll_latent", "nll_shuffled", "nll_context_only", "nll_reduction_joint",
           "nll_context_joint", "baseline_updates", "l0", "l1", "dead_fraction",
           "live_dims", "top10_mass", "reconstruction_rate", "n_recon_steps", "n_eval_steps", "n_train_steps", "prior_gain_nats", "seconds")


def metrics_table(path: Path) -> str:
    m = json.loads(path.read_text())
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
    return "| metric | value |\n| --- | --- |\n" + "".join(f"| {k} | {fmt(m[k])} |\n" for k in METRICS if k in m)


def bar_table(path: Path) -> str:
    return markdown_table(quality_bar(json.loads(path.read_text())), ["metric", "value", "bar", "met"], digits=4)


ABLATION = ("name", "updates", "val_info_shuffled_nats", "val_l0", "val_l1", "val_dead_fraction", "val_nll_latent", "val_nll_context_plateau",
            "val_cut_plateau", "seconds")


def ablation_table(preset: str) -> str:
    "The ablation table without its overrides column, which the Markdown file beside it has."
    return markdown_table(list(recorded_rows(preset).values()), ABLATION)


def linear_table(path: Path) -> str:
    "The caption and the linear-probe table of figures/table1_<preset>.md."
    text = path.read_text()
    return text.split("*mlp probe*")[0].strip() + "\n"


def render(preset: str) -> str:
    figs = ROOT / "figures"
    parts = [f"*Rendered by `tools/render_readme.py` from `figures/` ({preset} preset).*\n"]
    if (figs / f"ssae_metrics_{preset}.json").exists():
        extra = f", ablations `figures/ssae_ablation_{preset}.md`" if (figs / f"ssae_ablation_{preset}.md").exists() else ""
        parts += [f"**The SSAE** (`figures/ssae_metrics_{preset}.json`, held-out GSM8K test steps; training curves "
                  f"`figures/ssae_training_{preset}.png`{extra}):\n", metrics_table(figs / f"ssae_metrics_{preset}.json"),
                  "Against the bar the SSAE issue set (`ssae.train.SSAE_BAR`):\n", bar_table(figs / f"ssae_metrics_{preset}.json")]
    if (figs / f"ssae_ablation_{preset}.csv").exists():
        parts += [f"**Ablations** (`make ablate`, `figures/ssae_ablation_{preset}.md` with each row's overrides; validation split, "
                  "held-out GSM8K train problems; `val_cut_plateau` is the cut against the constant prefix fitted to a plateau):\n",
                  ablation_table(preset), f"![information vs L0](figures/ssae_info_vs_l0_{preset}.png)\n"]
    if (figs / f"table1_{preset}.md").exists():
        parts += [linear_table(figs / f"table1_{preset}.md"), f"![Figure 1](figures/figure1_{preset}.png)\n"]
    if (figs / f"claims_{preset}.md").exists():
        parts += ["**What holds of the paper's Table 1 claims** (`figures/claims_" + preset + ".md`):\n", (figs / f"claims_{preset}.md").read_text()]
    if (figs / f"bench_{preset}.md").exists():   # written by `make bench`, not by `make reproduce`
        body = (figs / f"bench_{preset}.md").read_text().split("\n", 2)[2]
        parts += [f"**Speed** (`make bench`, `figures/bench_{preset}.md`; ratios against the strongest baseline, run in the same process):\n", body]
    return "\n".join(parts)


def main():
    preset = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    readme = ROOT / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text: raise SystemExit(f"{readme}: no {BEGIN} ... {END} section to render into")
    new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: f"{BEGIN}\n{render(preset)}\n{END}", text, flags=re.S)
    readme.write_text(new)


if __name__ == "__main__":
    main()
