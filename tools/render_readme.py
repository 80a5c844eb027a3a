"""Render the README's results section from `figures/`, so that no number in it is typed by hand.

Replaces the text between `<!-- results:begin -->` and `<!-- results:end -->` in README.md with the
SSAE's held-out metrics against the quality bar, the ablation table (validation), Table 1 (linear probes),
the claim-by-claim verdicts of the preset and the benchmarks. Every table, the claims and the benchmarks' notes are
read from their data files (JSON or CSV) through the package's own readers, never from the Markdown beside them.
Usage: python tools/render_readme.py [PRESET]   (`make reproduce` runs it)
"""
import re, sys
from pathlib import Path

from ssae.ablations import README_COLUMNS, recorded_rows
from ssae.bench import BenchReport, bench_body
from ssae.evaluate import RunSummary, read_json, results_table
from ssae.probe import Table1Meta, claims, frame_table, table1_caption, table1_frame, table1_long
from ssae.report import metric_rows, quality_bar

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def metrics_table(summary: RunSummary) -> str:
    "The run's held-out metrics (`metric_rows`: the headline `info_nats` first), values to 4 significant digits."
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
    return "| metric | value |\n| --- | --- |\n" + "".join(f"| {r.metric} | {fmt(r.value)} |\n" for r in metric_rows(summary))


def ablation_table(preset: str) -> str:
    "The ablation table without its overrides and joint-prefix columns, which the Markdown file beside it has."
    return results_table(list(recorded_rows(preset).values()), README_COLUMNS)


def linear_table(preset: str) -> str:
    "Table 1's caption (from its JSON) and its linear-probe table (from its CSV)."
    figs = ROOT / "figures"
    caption = table1_caption(read_json(Table1Meta, figs / f"table1_{preset}.json"))
    return (f"**Table 1 ({preset} preset).** {caption}\n\n*linear probe*\n\n"
            f"{frame_table(table1_frame(table1_long(figs / f'table1_{preset}.csv'), 'linear'))}")


def render(preset: str) -> str:
    figs = ROOT / "figures"
    parts = [f"*Rendered by `tools/render_readme.py` from `figures/` ({preset} preset).*\n"]
    if (figs / f"ssae_metrics_{preset}.json").exists():
        summary = read_json(RunSummary, figs / f"ssae_metrics_{preset}.json")
        extra = f", ablations `figures/ssae_ablation_{preset}.md`" if (figs / f"ssae_ablation_{preset}.md").exists() else ""
        parts += [f"**The SSAE** (`figures/ssae_metrics_{preset}.json`, held-out GSM8K test steps; training curves "
                  f"`figures/ssae_training_{preset}.png`{extra}):\n", metrics_table(summary),
                  "Against the quality bar (`ssae.report.SSAE_BAR`):\n", results_table(quality_bar(summary.metrics), digits=4)]
    if (figs / f"ssae_ablation_{preset}.csv").exists():
        parts += [f"**Ablations** (`make ablate`, `figures/ssae_ablation_{preset}.md` with each row's overrides; validation split, "
                  "held-out GSM8K train problems; `val_cut_plateau` is the cut against the constant prefix fitted to a plateau):\n",
                  ablation_table(preset), f"![NLL cut vs L0](figures/ssae_info_vs_l0_{preset}.png)\n"]
    if (figs / f"table1_{preset}.csv").exists() and (figs / f"table1_{preset}.json").exists():
        parts += [linear_table(preset), f"![Figure 1](figures/figure1_{preset}.png)\n"]
    if (figs / f"table1_{preset}.csv").exists() and (figs / f"claims_{preset}.md").exists():   # the chapter wrote its claims
        parts += [f"**What holds of the paper's Table 1 claims** (`figures/claims_{preset}.md`):\n", claims(figs / f"table1_{preset}.csv")]
    if (figs / f"bench_{preset}.json").exists():   # written by `make bench`, not by `make reproduce`
        body = bench_body(read_json(BenchReport, figs / f"bench_{preset}.json"))
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
