"""Whole-suite mutation check: remove every validation and count the tests that notice.

Not collected by pytest. Usage, from the repository root::

    python tests/mutation/no_validation.py                   # mutate a copy, run the default suite
    python tests/mutation/no_validation.py --list            # only show what would be removed
    python tests/mutation/no_validation.py --json out.json -n 2 --marker "not slow"

"Every validation removed" is defined mechanically, so that it can be repeated: in a copy of the
repository (``mutate.copy_repo``), every ``raise`` statement whose exception is ``ValueError``,
``TypeError``, ``ArgumentTypeError`` or ``argparse.ArgumentTypeError`` (called or bare) in
``jaxcnn/**/*.py`` and ``experiments/**/*.py`` is replaced by ``pass``. The checks in
``jaxcnn/validation.py`` then return their (converted) input instead of refusing it, module field
checks fall through, and the CLIs' argparse types accept anything. Other exceptions (KeyError,
RuntimeError, NotImplementedError, orbax's own errors) stay, and so do argparse's ``choices``.

The suite is run in the copy under an address-space limit (``--memory``, default 8 GiB per
process), because without its bound checks ``interpolate(x, size=10**6)`` allocates until the
kernel kills the run. The copy is first checked to import; the unmutated suite is not rerun here
(CI runs it on every commit), so every failure counts as a test that notices the missing check.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from mutate import copy_repo, repo_root  # noqa: E402

EXCEPTIONS = {"ValueError", "TypeError", "ArgumentTypeError"}
PACKAGES = ("jaxcnn", "experiments")


def _exception_name(node: ast.Raise) -> str | None:
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    if isinstance(exc, ast.Name):
        return exc.id
    if isinstance(exc, ast.Attribute):  # argparse.ArgumentTypeError, validation.ArgumentTypeError
        return exc.attr
    return None


def validation_raises(source: str) -> list[ast.Raise]:
    """The ``raise ValueError/TypeError/ArgumentTypeError`` statements of one file, last first."""
    raises = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Raise) and node.exc is not None and _exception_name(node) in EXCEPTIONS
    ]
    return sorted(raises, key=lambda n: (n.lineno, n.col_offset), reverse=True)


def strip_raises(source: str) -> tuple[str, int]:
    """``source`` with each validation raise replaced by ``pass`` (same position), and the count."""
    lines = source.splitlines(keepends=True)
    raises = validation_raises(source)
    for node in raises:  # last first, so earlier offsets stay valid
        first, last = node.lineno - 1, node.end_lineno - 1
        head, tail = lines[first][: node.col_offset], lines[last][node.end_col_offset :]
        lines[first : last + 1] = [head + "pass" + tail]
    mutated = "".join(lines)
    ast.parse(mutated)  # the copy must still be valid Python
    return mutated, len(raises)


def mutate_tree(root: Path) -> dict[str, int]:
    counts = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            source = path.read_text()
            mutated, n = strip_raises(source)
            if n:
                path.write_text(mutated)
                counts[str(path.relative_to(root))] = n
    return counts


def _limit_memory(gib: float):
    def apply():
        limit = int(gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def _failed_tests(report: Path) -> list[str]:
    """``file::test`` of every failed or erroring test case in a JUnit XML report."""
    failed = []
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            path = case.get("classname", "").replace(".", "/")
            failed.append(f"{path}.py::{case.get('name')}")
    return sorted(set(failed))


def run_suite(
    copy: Path, marker: str, workers: int, memory: float, timeout: float, test_timeout: float, extra: list[str]
) -> dict:
    report = copy / "junit.xml"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        marker,
        "-n",
        str(workers),
        f"--junitxml={report}",
        *extra,
    ]
    if importlib.util.find_spec("pytest_timeout"):  # mutated code can hang a worker on a lock
        cmd.append(f"--timeout={test_timeout:g}")
    else:
        print("pytest-timeout is not installed: a hanging test would stall the run (pip install pytest-timeout)")
    t0 = time.time()
    proc = subprocess.run(
        cmd, cwd=copy, capture_output=True, text=True, timeout=timeout, preexec_fn=_limit_memory(memory)
    )
    out = proc.stdout + proc.stderr
    failed = _failed_tests(report) if report.exists() else []
    summary = next(
        (line for line in reversed(out.splitlines()) if " in " in line and ("passed" in line or "failed" in line)), ""
    )
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|errors?|xfailed|xpassed|skipped)", summary)}
    return {
        "command": " ".join(cmd),
        "returncode": proc.returncode,
        "seconds": round(time.time() - t0, 1),
        "summary": summary,
        "counts": counts,
        "failed": failed,
        "tail": out.splitlines()[-40:],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--list", action="store_true", help="print the raises per file and stop")
    p.add_argument("--marker", default="not slow", help="pytest -m expression (the default suite)")
    p.add_argument("-n", "--workers", type=int, default=2, help="pytest-xdist workers")
    p.add_argument("--memory", type=float, default=8.0, help="address-space limit per process, GiB")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds for the whole run")
    p.add_argument("--test-timeout", type=float, default=300.0, help="seconds per test (with pytest-timeout)")
    p.add_argument("--json", type=Path, help="write the result here")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. a test path)")
    args = p.parse_args(argv)

    root = repo_root()
    with tempfile.TemporaryDirectory(prefix="jaxcnn_novalidation_") as tmp:
        copy = Path(tmp) / root.name
        copy.mkdir()
        copy_repo(root, copy, None)
        if (root.parent / "shared").exists():  # tests and experiments read ../shared/data
            (Path(tmp) / "shared").symlink_to((root.parent / "shared").resolve())
        counts = mutate_tree(copy)
        total = sum(counts.values())
        print(f"removed {total} validation raises in {len(counts)} files")
        for path, n in sorted(counts.items(), key=lambda kv: -kv[1]):
            print(f"  {n:4d}  {path}")
        if args.list:
            return 0
        subprocess.run(
            [sys.executable, "-c", "import jaxcnn, jaxcnn.models, jaxcnn.train, experiments.classify"],
            cwd=copy,
            check=True,
        )
        result = run_suite(
            copy, args.marker, args.workers, args.memory, args.timeout, args.test_timeout, args.pytest_args
        )
    by_file = Counter(name.split("::")[0] for name in result["failed"])
    print(result["summary"])
    print(f"{len(result['failed'])} tests fail without validation ({result['seconds']} s); by file:")
    for path, n in by_file.most_common():
        print(f"  {n:4d}  {path}")
    if args.json:
        args.json.write_text(json.dumps({"raises_removed": counts, **result, "failed_by_file": by_file}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
