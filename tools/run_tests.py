"""Run every notebook's tests (as `nbdev_test` does) plus the library/notebook sync checks.

Prints one line per check and a closing `N passed, N failed` line; exits non-zero on any failure.
Usage: python tools/run_tests.py [NOTEBOOK_GLOB] [--workers N]
"""
import argparse, filecmp, os, shutil, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run_notebook(path: Path) -> tuple[bool, float, str]:
    "Run one notebook's tests with nbdev_test in a fresh process (IPython takes over `__main__`)."
    start = time.time()
    res = subprocess.run([str(BIN / "nbdev_test"), "--path", str(path)], cwd=ROOT / "nbs", capture_output=True, text=True)
    return res.returncode == 0, time.time() - start, (res.stdout + res.stderr)[-4000:]


def tree_differences(a: Path, b: Path) -> list[str]:
    "Relative paths of files that differ between folders `a` and `b` (caches ignored)."
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__", ".ipynb_checkpoints"])
    out = [*cmp.left_only, *cmp.right_only, *cmp.diff_files, *cmp.funny_files]
    for sub, c in cmp.subdirs.items(): out += [f"{sub}/{p}" for p in tree_differences(a / sub, b / sub)]
    return out


def check_in_copy(command: str, folder: str) -> tuple[bool, str]:
    "Run an nbdev command on a scratch copy of the project; True when it leaves `folder` unchanged."
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "proj"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "data", "figures", "__pycache__"))
        res = subprocess.run([str(BIN / command)], cwd=copy, capture_output=True, text=True)
        if res.returncode: return False, res.stderr.strip()[-2000:]
        diff = tree_differences(ROOT / folder, copy / folder)
        return not diff, f"{command} would change: {', '.join(sorted(diff))}" if diff else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pattern", nargs="?", default="[0-9][0-9]_*.ipynb")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("SSAE_QUIET", "1")
    results = []
    for name, cmd, folder in [("library in sync with notebooks (nbdev_export)", "nbdev_export", "ssae"),
                              ("notebooks clean (nbdev_clean)", "nbdev_clean", "nbs")]:
        ok, msg = check_in_copy(cmd, folder)
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"\n      {msg}" if msg else ""), flush=True)
        results.append(ok)
    notebooks = sorted((ROOT / "nbs").glob(args.pattern))
    with ThreadPoolExecutor(args.workers) as pool:
        for nb, (ok, secs, log) in zip(notebooks, pool.map(run_notebook, notebooks)):
            print(f"{'PASS' if ok else 'FAIL'}  {nb.name} ({secs:.0f} s)" + ("" if ok else "\n" + log), flush=True)
            results.append(ok)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    sys.exit(0 if passed == len(results) else 1)


if __name__ == "__main__":
    main()
