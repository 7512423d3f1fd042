"""Run every benchmark (`make bench`), one after the other, and summarise the targets.

    .venv/bin/python bench/run_all.py [--quick] [--only apixo_calls,idle_poll]

Each benchmark is a script of its own (bench/<name>.py) that starts and stops what it
needs; this runner only calls them in turn, shows their tables as they come, keeps a copy
of everything in a file in the temp dir, and ends with the PASS/MISS lines. It exits
non-zero only if a benchmark crashed: a missed target is a result, not an error.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# (script, arguments, arguments with --quick)
BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    ("apixo_calls", [], ["--quick"]),
    ("gallery_live", [], ["--quick"]),
    ("idle_poll", [], ["--quick"]),
    ("gallery_page", [], ["--quick"]),
    ("worker_memory", [], ["--quick"]),
    ("engine_tiers", [], ["--quick"]),
    ("engine_quality", [], ["--quick"]),
    ("throughput", [], ["--quick"]),
    ("decode_attack", [], ["--quick"]),
    ("sizing", [], ["--quick"]),
    ("page_weight", [], ["--quick"]),
    # Someone else's: streams the spend CSV for N charges (default 1,000,000).
    ("ledger_csv", [], ["200000"]),
]


def main() -> int:
    args = sys.argv[1:]
    quick = "--quick" in args
    only: set[str] = set()
    for i, a in enumerate(args):
        if a == "--only" and i + 1 < len(args):
            only = set(args[i + 1].split(","))
        elif a.startswith("--only="):
            only = set(a.split("=", 1)[1].split(","))
    out_path = Path(tempfile.gettempdir()) / f"upscaler-bench-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    summary = []
    failed = []
    with out_path.open("w") as out:
        for name, normal, quick_args in BENCHMARKS:
            script = HERE / f"{name}.py"
            if (only and name not in only) or not script.exists():
                continue
            cmd = [sys.executable, str(script), *(quick_args if quick else normal)]
            header = f"\n===== {name} ({' '.join(cmd[1:])}) ====="
            print(header, flush=True)
            out.write(header + "\n")
            started = time.monotonic()
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:
                sys.stdout.write(line)
                out.write(line)
                lines.append(line.rstrip("\n"))
            code = proc.wait()
            took = time.monotonic() - started
            if code != 0:
                failed.append(name)
            marks = [
                line
                for line in lines
                if line.startswith("|") and ("PASS" in line or "MISS" in line)
            ]
            summary.append((name, took, code, marks))
        text = ["", "===== summary ====="]
        for name, took, code, marks in summary:
            passed = sum("PASS" in m for m in marks)
            missed = sum("MISS" in m for m in marks)
            state = "ok" if code == 0 else f"CRASHED (exit {code})"
            text.append(f"{name:<14} {took:6.0f} s  {state:<10} {passed} PASS, {missed} MISS")
            text.extend(f"    {' '.join(m.split())}" for m in marks if "MISS" in m)
        text.append(f"total {sum(s[1] for s in summary):.0f} s; full output in {out_path}")
        print("\n".join(text))
        out.write("\n".join(text) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
