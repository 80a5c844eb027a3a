"""Compare the tables a run wrote under figures/ with the committed ones, wall times left out.

`make reproduce PRESET=cpu` (or, for the tiny preset, `make test`) rewrites figures/*_<preset>.{md,csv,json,tex}; this
prints every difference from the committed version (`git show REV:path`, REV = HEAD unless --rev) and exits 1 when there
is any: a committed table that changed or is missing, or a table that is not committed. Wall times differ on every run,
so they are dropped from both sides first (`TIMING`: JSON keys and CSV / Markdown / LaTeX columns named `seconds`, `*_seconds`
or `seconds_*`, and "Wall time" lines). The bench's tables (bench_*) are timings throughout and are not compared; images
are not compared (their bytes are, by `git status`).
Usage: python tools/check_reproduce.py PRESET [--rev REV] [--lines N]
"""
import argparse, csv, difflib, io, json, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = (".md", ".csv", ".json", ".tex")
TIMING = re.compile(r"^(seconds|wall_time)$|_seconds$|^seconds_", re.I)   # a key or column that holds a wall time
TIMING_LINE = re.compile(r"^\s*-?\s*wall time\b", re.I)                     # a line that states one


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def table_paths(names: list[str], preset: str) -> set[str]:
    "The figures/ paths among `names` that are tables of `preset` (bench_* left out)."
    out = set()
    for n in names:
        p = Path(n)
        if p.parent.name == "figures" and p.suffix in KINDS and p.stem.endswith(f"_{preset}") and not p.name.startswith("bench_"):
            out.add(n)
    return out


def drop_json(value):
    "A JSON value without its wall-time keys, at any depth."
    if isinstance(value, dict): return {k: drop_json(v) for k, v in value.items() if not TIMING.search(k)}
    if isinstance(value, list): return [drop_json(v) for v in value]
    return value


def drop_csv(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows: return text
    keep = [i for i, name in enumerate(rows[0]) if not TIMING.search(name.strip())]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[r[i] for i in keep if i < len(r)] for r in rows])
    return out.getvalue()


def drop_columns(lines: list[str], split, join) -> list[str]:
    "Lines of Markdown or LaTeX tables without the columns whose header names a wall time (a table ends at a line that is not a row)."
    out, keep = [], None
    for line in lines:
        cells = split(line)
        if cells is None: keep = None; out.append(line); continue
        if keep is None:   # a header row
            keep = [i for i, c in enumerate(cells) if not TIMING.search(c.strip())]
            if len(keep) == len(cells): keep = list(range(len(cells)))
        out.append(join([cells[i] for i in keep if i < len(cells)]) if len(keep) < len(cells) else line)
    return out


def md_cells(line: str):
    s = line.strip()
    return s[1:-1].split("|") if s.startswith("|") and s.endswith("|") and len(s) > 1 else None


def tex_cells(line: str):
    s = line.rstrip()
    return s[:-2].split("&") if s.endswith("\\\\") and "&" in s else None


def normalise(path: str, text: str) -> str:
    "`text` of table `path` without its wall times, in a canonical form for comparison."
    suffix = Path(path).suffix
    if suffix == ".json":
        try: return json.dumps(drop_json(json.loads(text)), indent=2, sort_keys=True) + "\n"
        except json.JSONDecodeError: return text
    if suffix == ".csv": return drop_csv(text)
    lines = [l for l in text.splitlines() if not TIMING_LINE.search(l)]
    if suffix == ".md": lines = drop_columns(lines, md_cells, lambda c: "|" + "|".join(c) + "|")
    if suffix == ".tex": lines = drop_columns(lines, tex_cells, lambda c: "&".join(c) + "\\\\")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("preset")
    ap.add_argument("--rev", default="HEAD", help="the committed version to compare with")
    ap.add_argument("--lines", type=int, default=60, help="diff lines shown per table")
    args = ap.parse_args()
    committed = table_paths(git("ls-tree", "-r", "--name-only", args.rev, "--", "figures").split(), args.preset)
    present = table_paths([str(p.relative_to(ROOT)) for p in (ROOT / "figures").glob(f"*_{args.preset}.*")], args.preset)
    if not committed and not present:
        print(f"no tables of preset {args.preset!r} under figures/, committed or written"); return 1
    problems = []
    for path in sorted(committed | present):
        if path not in present: problems.append(path); print(f"MISSING  {path}: committed at {args.rev}, not written by this run"); continue
        if path not in committed: problems.append(path); print(f"NEW      {path}: written by this run, not committed at {args.rev}"); continue
        old = normalise(path, git("show", f"{args.rev}:{path}"))
        new = normalise(path, (ROOT / path).read_text(encoding="utf-8"))
        if old == new: print(f"SAME     {path}"); continue
        problems.append(path)
        diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), f"{args.rev}:{path}", path, lineterm="", n=1))
        print(f"DIFFERS  {path}: {sum(l[:1] in '+-' and l[:3] not in ('+++', '---') for l in diff)} lines")
        print("\n".join("    " + l for l in diff[:args.lines]) + (f"\n    ... {len(diff) - args.lines} more diff lines" if len(diff) > args.lines else ""))
    n = len(committed | present)
    print(f"{n - len(problems)} of {n} tables of preset {args.preset} as committed at {args.rev} (wall times left out)"
          + (f"; {len(problems)} differ" if problems else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
