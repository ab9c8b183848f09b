"""Mutation testing of the privacy kernel with mutmut, one module at a time.

    .venv/bin/python -m bench.mutate ciphertext merkle     # or: make mutate
    .venv/bin/python -m bench.mutate verify --budget 600   # score what ran in 10 minutes
    .venv/bin/python -m bench.mutate --list

Each target runs in a scratch copy of the tree (registry/, tests/, pyproject.toml) in a
temporary directory, so mutmut's `mutants/` directory and its trampolined sources never
land in the working tree (`--keep` leaves it for `mutmut browse`). Its [tool.mutmut]
configuration is written per target: the module to mutate and only the fast tests that
can notice a change to it, so a run takes minutes. One worker process by default
(`--workers`): the machine is shared.

The score excludes message-only mutants (a changed or `None` string in a `raise`, an
error constructor or an error class's message), as issue 12's target does; the raw score
is printed too. Mutants whose tests time out count as killed, as mutmut counts them. The
policy *table* is held by hand-applied mutants in `tests/access/test_policy_snapshot.py`:
mutmut does not add or drop the members of a frozenset literal, so the `policy` target
here only covers the functions around it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Target:
    module: str
    tests: tuple[str, ...]
    pytest_args: tuple[str, ...] = ()  # e.g. one engine only, for the database-backed tests


# The tests that can notice a change in each module. Whole-API tests are left out on
# purpose: they would turn a minutes-long run into hours on two shared cores.
TARGETS = {
    "ciphertext": Target(
        "registry/crypto/ciphertext.py",
        ("tests/crypto/test_ciphertext.py", "tests/crypto/test_ciphertext_vectors.py"),
    ),
    "merkle": Target("registry/audit/merkle.py", ("tests/audit/test_merkle.py", "tests/audit/test_merkle_edges.py")),
    # The functions around the table; the table itself is held by hand-applied mutants in
    # tests/access/test_policy_snapshot.py (every one-element change, run by the test).
    "policy": Target("registry/access/policy.py", ("tests/access/",)),
    "disclosure": Target(
        "registry/disclosure.py", ("tests/test_masks.py", "tests/test_disclosure.py"), ("-k", "not postgresql")
    ),
    # Database-backed: SQLite only, or a run takes hours (both engines run in the suite).
    "verify": Target(
        "registry/audit/verify.py",
        ("tests/audit/test_verify.py", "tests/audit/test_verify_edges.py", "tests/audit/test_verify_workers.py"),
        ("-k", "not postgresql"),
    ),
}


def scratch_tree(name: str, target: Target) -> Path:
    work = Path(tempfile.mkdtemp(prefix=f"registry-mutate-{name}-"))
    ignore = shutil.ignore_patterns("__pycache__", ".hypothesis", "*.pyc")
    shutil.copytree(ROOT / "registry", work / "registry", ignore=ignore)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=ignore)
    # The database-backed tests migrate a fresh database: the migrations are in registry/ (copied above).
    tests = [t for t in target.tests if (ROOT / t).exists()]
    if not tests:
        raise SystemExit(f"{name}: none of {target.tests} exists")
    pyproject = (ROOT / "pyproject.toml").read_text()
    pyproject = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", pyproject)
    pyproject += (
        "\n[tool.mutmut]\n"
        'source_paths = ["registry"]\n'
        'also_copy = ["registry/migrations/"]\n'
        f"only_mutate = [{json.dumps(target.module)}]\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        f"pytest_add_cli_args = {json.dumps(['-p', 'no:randomly', '-p', 'no:xdist', '-q', *target.pytest_args])}\n"
        "use_git_change_detection = false\n"
    )
    (work / "pyproject.toml").write_text(pyproject)
    return work


def mutmut_run(work: Path, workers: int, budget: float | None) -> bool:
    """`mutmut run`; stopped after `budget` seconds (False) with the mutants so far recorded."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    log = (work / "mutmut-run.log").open("w")
    # A session of its own, so the budget stops mutmut's forked test workers with it.
    proc = subprocess.Popen(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(workers)],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        code = proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        return False
    finally:
        log.close()
    if code:
        sys.stderr.write((work / "mutmut-run.log").read_text()[-4000:])
        raise SystemExit(f"mutmut run failed ({code}) in {work}")
    return True


# Reads mutmut's own records in the scratch tree: every mutant's status and diff, in one
# process (`mutmut show` per mutant costs a second each).
_DUMP = """
import json
from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
from mutmut.utils.file_utils import walk_mutatable_files
out = {}
for path in walk_mutatable_files():
    data = SourceFileMutationData(path=path)
    data.load()
    for name, code in data.exit_code_by_key.items():
        out[name] = {"status": status_by_exit_code[code], "diff": get_diff_for_mutant(name, path=path)}
print(json.dumps(out))
"""


def results(work: Path) -> dict[str, dict[str, str]]:
    """mutant name → {"status", "diff"}."""
    done = subprocess.run([sys.executable, "-c", _DUMP], cwd=work, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _tokens(text: str) -> list[tuple[int, str]]:
    try:
        return [
            (t.type, t.string)
            for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type
            not in (
                tokenize.NL,
                tokenize.NEWLINE,
                tokenize.INDENT,
                tokenize.DEDENT,
                tokenize.COMMENT,
                tokenize.ENDMARKER,
            )
        ]
    except (tokenize.TokenError, SyntaxError):
        return []


def message_only(diff: str) -> bool:
    """True when the mutant changes nothing but the text of an error message."""
    lines = [line for line in diff.splitlines() if not line.startswith(("---", "+++", "@@"))]
    removed = "\n".join(line[1:].strip() for line in lines if line.startswith("-"))
    added = "\n".join(line[1:].strip() for line in lines if line.startswith("+"))
    old, new = _tokens(removed), _tokens(added)
    if not old:
        return False
    if new == [(tokenize.NAME, "None")] and all(t[0] == tokenize.STRING for t in old):
        pass  # a (possibly multi-line) message replaced by None
    elif len(old) != len(new):
        return False
    else:
        changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
        # mutmut rewrites a message as "XX…XX", in upper or lower case, or as None.
        if not changed or not all(
            a[0] == tokenize.STRING and (b[0] == tokenize.STRING or b == (tokenize.NAME, "None")) for a, b in changed
        ):
            return False
    # The statement: the changed lines, or, when they continue a call opened above (a
    # message over several lines), the lines from that opening one.
    first = next(i for i, line in enumerate(lines) if line.startswith(("-", "+")))
    statement = removed
    for i in range(first - 1, max(-1, first - 4), -1):
        if lines[i].rstrip().endswith("("):
            statement = "\n".join(line[1:] for line in lines[i:first]) + "\n" + removed
            break
    return bool(re.search(r"\braise\b|Error\(|Violation\(|_MESSAGE\s*=", statement))


def run(name: str, workers: int, keep: bool, budget: float | None) -> dict[str, object]:
    target = TARGETS[name]
    work = scratch_tree(name, target)
    print(f"== {name}: mutating {target.module} in {work}", flush=True)
    started = time.monotonic()
    try:
        return _run(target, work, workers, started, budget)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _run(target: Target, work: Path, workers: int, started: float, budget: float | None) -> dict[str, object]:
    complete = mutmut_run(work, workers, budget)
    mutants = results(work)
    unchecked = [mutant for mutant, m in mutants.items() if m["status"] == "not checked"]
    if not complete:
        # Out of time: score the mutants that were run, and say how many were not.
        mutants = {mutant: m for mutant, m in mutants.items() if m["status"] != "not checked"}
    statuses = {mutant: m["status"] for mutant, m in mutants.items()}
    messages = {mutant for mutant, m in mutants.items() if message_only(m["diff"])}
    survivors = {
        mutant: m
        for mutant, m in sorted(mutants.items())
        if m["status"] not in ("killed", "timeout") and mutant not in messages
    }
    total = len(statuses)
    killed = sum(s in ("killed", "timeout") for s in statuses.values())
    counted = total - len(messages)
    score = (counted - len(survivors)) / counted if counted else 1.0
    raw = killed / total if total else 1.0
    seconds = round(time.monotonic() - started)
    print(
        f"   {total} mutants, {killed} killed ({raw:.1%}); {len(messages)} message-only excluded: "
        f"{counted - len(survivors)}/{counted} killed = {score:.1%} ({seconds} s)"
        + ("" if complete else f"; PARTIAL, stopped with {len(unchecked)} mutants not run"),
        flush=True,
    )
    for mutant, info in survivors.items():
        print(f"   survived: {mutant} ({info['status']})\n{info['diff']}", flush=True)
    return {
        "module": target.module,
        "tests": list(target.tests),
        "mutants": total,
        "killed": killed,
        "message_only": len(messages),
        "score": round(score, 4),
        "raw_score": round(raw, 4),
        "seconds": seconds,
        "complete": complete,
        "not_run": 0 if complete else len(unchecked),
        "survivors": survivors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", default=["ciphertext", "merkle"], help=f"of {sorted(TARGETS)}")
    parser.add_argument("--workers", type=int, default=1, help="mutmut --max-children (default 1)")
    parser.add_argument("--min-score", type=float, default=0.0, help="exit 1 if any score is below this (0..1)")
    parser.add_argument("--budget", type=float, help="seconds per target; then score the mutants run so far")
    parser.add_argument("--keep", action="store_true", help="keep the scratch trees (for `mutmut browse`)")
    parser.add_argument("--list", action="store_true", help="print the targets and their tests")
    args = parser.parse_args(argv)
    if args.list:
        for name, target in TARGETS.items():
            print(f"{name}: {target.module} <- {' '.join(target.tests + target.pytest_args)}")
        return 0
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets {sorted(unknown)}; choose from {sorted(TARGETS)}")
    print(f"command: python -m bench.mutate {' '.join(sys.argv[1:] if argv is None else argv)}", flush=True)
    report = {name: run(name, args.workers, args.keep, args.budget) for name in args.targets}
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = RESULTS / f"mutate-{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"scores: {out.relative_to(ROOT)}", flush=True)
    return 1 if any(r["score"] < args.min_score for r in report.values()) else 0  # type: ignore[operator]


if __name__ == "__main__":
    raise SystemExit(main())
