"""Mutation pass: plant one-line semantic bugs one at a time and see whether the tests notice.

Not collected by pytest (no ``test_`` prefix). Usage, from the repository root::

    python tests/mutation/mutate.py --list
    python tests/mutation/mutate.py                      # every mutation, on the working tree
    python tests/mutation/mutate.py --only sd_coin_inverted --only cutout_even_rows_shift
    python tests/mutation/mutate.py --ref de2f8a9        # on a commit's tracked files (e.g. "before")
    python tests/mutation/mutate.py --json out.json --timeout 300

How it works: the repository (the working tree's tracked and untracked-but-not-ignored files, or
``git archive REF`` with ``--ref``) is copied once into a temporary folder. The unmutated listed
tests are first run there once (``--no-baseline`` skips this) so that a "kill" is never a test
that fails anyway. Then, for each mutation in ``mutations.py``: the exact ``old`` text must occur
exactly once in its file (the ``nth`` occurrence where ``nth`` is given), otherwise the mutation
is reported as ``stale`` and not counted; it is replaced by ``new``, only the listed test paths
(those that exist in the copy) are run with ``pytest -x -q -p no:xdist -m "not slow"`` under a timeout, and the
file is restored. A non-zero pytest status is ``killed``; zero is ``survived``; running past the
timeout is ``timeout`` (counted as killed, reported apart). Score = killed / (killed + survived +
timeout), stale excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mutations import MUTATIONS  # noqa: E402


def repo_root() -> Path:
    return Path(subprocess.check_output(["git", "rev-parse", "--show-toplevel"], cwd=HERE, text=True).strip())


def copy_repo(root: Path, dest: Path, ref: str | None) -> None:
    if ref:
        archive = subprocess.run(["git", "archive", ref], cwd=root, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        return
    files = subprocess.check_output(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], cwd=root)
    for rel in filter(None, files.decode().split("\0")):
        src = root / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def locate(text: str, old: str, nth: int | None) -> int | None:
    """Offset of the occurrence to mutate, or None when the mutation is stale (absent/ambiguous)."""
    count = text.count(old)
    if nth is None:
        return text.find(old) if count == 1 else None
    if count < nth:
        return None
    pos = -1
    for _ in range(nth):
        pos = text.find(old, pos + 1)
    return pos


def run_tests(copy: Path, tests: list[str], timeout: float, env: dict, marker: str) -> tuple[str, float, str]:
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", "-m", marker, *tests]
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.time() - t0, ""
    tail = (proc.stdout + proc.stderr).strip().splitlines()
    status = "survived" if proc.returncode == 0 else ("no-tests" if proc.returncode == 5 else "killed")
    return status, time.time() - t0, tail[-1] if tail else ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--only", action="append", default=[], help="run only this mutation (repeatable)")
    ap.add_argument("--ref", help="mutate `git archive REF` instead of the working tree")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per mutation's test run")
    ap.add_argument("--marker", default="not slow", help="pytest -m expression (default: the CI suite's)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the listed tests")
    ap.add_argument("--json", help="write per-mutation results to this file")
    ap.add_argument(
        "--jax-cache",
        default=str(Path(tempfile.gettempdir()) / "jaxcnn-mutation-jax-cache"),
        help="JAX persistent compilation cache shared by the runs ('' to disable): most programs "
        "are the same from one mutation to the next, and XLA compiles dominate the run time",
    )
    args = ap.parse_args(argv)

    selected = [m for m in MUTATIONS if not args.only or m["name"] in args.only]
    unknown = set(args.only) - {m["name"] for m in MUTATIONS}
    if unknown:
        ap.error(f"unknown mutation(s): {sorted(unknown)}")
    if args.list:
        for m in selected:
            print(f"{m['name']:34s} {m['file']:42s} {' '.join(m['tests'])}")
        print(f"{len(selected)} mutations")
        return 0

    root = repo_root()
    env = dict(os.environ)
    env.setdefault("JAXCNN_DATA", str(root.parent / "shared" / "data"))
    env.pop("PYTHONPATH", None)
    if args.jax_cache:  # keyed by the program's hash: a mutated program misses, an unchanged one hits
        env.update(
            JAX_COMPILATION_CACHE_DIR=args.jax_cache,
            JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
            JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        )
    results = []
    with tempfile.TemporaryDirectory(prefix="jaxcnn-mut-") as tmp:
        copy = Path(tmp) / "repo"
        copy.mkdir()
        copy_repo(root, copy, args.ref)
        print(f"copy of {'`git archive ' + args.ref + '`' if args.ref else 'the working tree'} in {copy}", flush=True)

        def existing(tests):
            return [t for t in tests if (copy / t.split("::")[0]).exists()]

        if not args.no_baseline:
            union = sorted({t for m in selected for t in existing(m["tests"])})
            status, secs, tail = run_tests(copy, union, args.timeout * 4, env, args.marker)
            print(f"baseline ({len(union)} paths): {status} in {secs:.0f}s  {tail}", flush=True)
            if status != "survived":
                print("the unmutated tests do not pass: fix that first (or --no-baseline)")
                return 2
        for m in selected:
            path = copy / m["file"]
            text = path.read_text() if path.exists() else ""
            pos = locate(text, m["old"], m.get("nth"))
            tests = existing(m["tests"])
            if pos is None:
                status, secs, tail = "stale", 0.0, "old text absent or ambiguous"
            elif not tests:
                status, secs, tail = "no-tests", 0.0, "none of the listed test paths exist"
            else:
                path.write_text(text[:pos] + m["new"] + text[pos + len(m["old"]) :])
                try:
                    status, secs, tail = run_tests(copy, tests, args.timeout, env, args.marker)
                finally:
                    path.write_text(text)
            results.append(dict(name=m["name"], status=status, seconds=round(secs, 1), tail=tail, tests=tests))
            print(f"{status:9s} {secs:6.0f}s  {m['name']:34s} {tail[:90]}", flush=True)

    counted = [r for r in results if r["status"] in ("killed", "survived", "timeout")]
    killed = [r for r in counted if r["status"] != "survived"]
    print(
        f"\nscore: {len(killed)}/{len(counted)} killed"
        f" ({sum(r['status'] == 'timeout' for r in counted)} by timeout);"
        f" stale {sum(r['status'] == 'stale' for r in results)}, no-tests {sum(r['status'] == 'no-tests' for r in results)}"
    )
    survivors = [r["name"] for r in counted if r["status"] == "survived"]
    if survivors:
        print("survivors: " + ", ".join(survivors))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(ref=args.ref, results=results), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
