"""Run every notebook's tests, one process per notebook with a timeout, and the library/notebook sync checks.

A test is a code cell outside the exported code that checks something (calls a `test_*` function or `assert`s).
Cells run as under `nbdev_test` (same skip flags and `eval: false` directives); the runner counts the tests that
ran. A notebook fails when a cell raises, when it runs out of time, or when it runs no test at all (skipped or
emptied). Prints one line per check and notebook and a closing `N passed, N failed` over tests and checks; exits
non-zero on any failure.
Usage: python tools/run_tests.py [NOTEBOOK_GLOB] [--workers N] [--timeout SECONDS]
"""
import argparse, filecmp, os, re, shutil, signal, subprocess, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHECK = re.compile(r"\btest_\w+\(|\bassert\b")


def is_test(source: str) -> bool:
    "A code cell that checks something and is not exported library code."
    return not source.lstrip().startswith("#| export") and bool(CHECK.search(source))


def run_cells(path: Path) -> None:
    "Child process: run one notebook as `nbdev_test` does, printing `PASS i`, `FAIL i` or `ERROR i` per cell that counts."
    from execnb.shell import CaptureShell
    from fastcore.basics import str2bool
    from fastcore.xtras import working_directory
    from nbdev.config import get_config
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    os.environ["IN_TEST"] = "1"
    nb = NBProcessor(path, procs=FrontmatterProc, process=True).nb
    if str2bool(getattr(nb, "frontmatter_", {}).get("skip_exec", False)): return   # runs nothing: the parent fails it
    skip_flags = set(get_config().tst_flags.split())

    def skipped(cell) -> bool:
        if cell.cell_type != "code" or "nbdev_export(" in cell.source: return True
        directives = getattr(cell, "directives_", {}) or {}
        return directives.get("eval:", [""])[0].lower() == "false" or bool(skip_flags & directives.keys())

    def report(cell) -> None:
        if shell.exc: print(f"{'FAIL' if is_test(cell.source) else 'ERROR'} {cell.idx_}", flush=True)
        elif is_test(cell.source): print(f"PASS {cell.idx_}", flush=True)

    shell = CaptureShell(path)
    with working_directory(path.parent):
        try: shell.run_all(nb, exc_stop=True, preproc=skipped, postproc=report)
        except BaseException: sys.stderr.write(shell.prettytb(fname=path) + "\n"); sys.exit(1)


def run_notebook(path: Path, timeout: float) -> tuple[int, int, float, str]:
    "Tests passed and failed in one notebook (in its own process, killed after `timeout` s), its seconds and a problem."
    start = time.time()
    proc = subprocess.Popen([sys.executable, __file__, "--one", str(path)], cwd=ROOT / "nbs", text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try: out, err = proc.communicate(timeout=timeout); problem = ""
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)   # the whole group: a notebook may have started processes of its own
        out, err = proc.communicate(); problem = f"timed out after {timeout:.0f} s"
    marks = [line.split()[0] for line in out.splitlines() if line.split()[:1] in (["PASS"], ["FAIL"], ["ERROR"])]
    passed, failed = marks.count("PASS"), marks.count("FAIL") + marks.count("ERROR")
    if not problem and proc.returncode: problem = "a cell raised"
    if not problem and not marks: problem = "ran no test (skipped or empty)"
    if problem and not failed: failed = 1
    return passed, failed, time.time() - start, problem + ("\n" + err[-4000:] if problem and err.strip() else "")


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
    ap.add_argument("pattern", nargs="?", default="*.ipynb")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("SSAE_TEST_TIMEOUT", 1200)), help="seconds per notebook")
    ap.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one: return run_cells(args.one.resolve())
    os.environ.setdefault("SSAE_QUIET", "1")
    passed = failed = 0
    for name, cmd, folder in [("library in sync with notebooks (nbdev_export)", "nbdev_export", "ssae"),
                              ("notebooks clean (nbdev_clean)", "nbdev_clean", "nbs")]:
        ok, msg = check_in_copy(cmd, folder)
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"\n      {msg}" if msg else ""), flush=True)
        passed += ok; failed += not ok
    notebooks = sorted((ROOT / "nbs").glob(args.pattern))
    if not notebooks: print(f"FAIL  no notebook matches {args.pattern}"); failed += 1
    with ThreadPoolExecutor(args.workers) as pool:
        for nb, (p, f, secs, problem) in zip(notebooks, pool.map(lambda nb: run_notebook(nb, args.timeout), notebooks)):
            print(f"{'FAIL' if f else 'PASS'}  {nb.name}: {p} passed, {f} failed ({secs:.0f} s)" + (f"; {problem}" if problem else ""), flush=True)
            passed += p; failed += f
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
