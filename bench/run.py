"""The benchmarks of jd_assets: ``python bench/run.py [--quick] [--only 1,2,...] [--out bench/RESULTS.md]``.

Prints a markdown table (benchmark, measured, baseline, ratio, bar, met?) and a paragraph per benchmark.
Every ratio is measured side by side in the same run. See bench/README.md.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import platform
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

from common import Row  # noqa: E402

BENCHES = {
    1: ("b1_landing", "Landing speed"),
    2: ("b26_refresh", "Billed calls (with 6)"),
    3: ("b3_rate", "Rate-limit use"),
    4: ("b4_derived", "Derived tables"),
    5: ("b5_dlt", "Against dlt"),
    6: ("b26_refresh", "Dagster overhead (with 2)"),
    7: ("b7_sentiment", "Review polarity"),
    8: ("b8_aspects", "Review aspects"),
    9: ("b9_publish", "Publishing the analysts' copy"),
    10: ("b10_signals", "Review signals refresh"),
    11: ("b11_lake", "DuckLake against the file"),
    12: ("b12_scale", "Scale curve"),
}
#: Run only when named in --only: more than the full bench's 20-minute budget has room for.
OPT_IN = {11: "DuckLake against the file: a throwaway PostgreSQL, 0.5M and 5M on both backends"}
#: Measurements another benchmark reuses (bench 12 takes bench 4's derived-table runs): computed once per
#: arguments in a run, so a benchmark that needs them costs nothing more when both run (see ``shared``).
SHARED = [("b4_derived", "_measure")]


def shared(fn):
    """``fn`` computed once per arguments in this run; ``fn.done`` lists the first argument of each call made
    (bench 12 asks which sizes bench 4 has already measured)."""
    cached = functools.cache(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        out = cached(*args, **kwargs)
        wrapper.done.append(args[0])
        return out

    wrapper.done = []
    return wrapper


def machine() -> str:
    import dagster
    import duckdb

    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        mem = f"{kib / 2**20:.1f} GiB"
    except OSError:
        pass
    try:
        import dlt

        dlt_v = dlt.__version__
    except ImportError:
        dlt_v = "not installed"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {mem} RAM, {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, duckdb {duckdb.__version__}, dagster {dagster.__version__}, "
        f"dlt {dlt_v}"
    )


def table(rows: list[Row]) -> str:
    out = ["| # | benchmark | measured | baseline | ratio | bar | met? |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r.number} | {r.benchmark} | {r.measured} | {r.baseline} | {r.ratio} | {r.bar} | {r.met} |"
        )
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes: seconds to a minute per benchmark")
    ap.add_argument("--only", default="", help="comma list of benchmark numbers (1-12); 2 and 6 run together")
    ap.add_argument("--out", default="", help="also write the report to this markdown file")
    args = ap.parse_args()
    wanted = sorted({int(x) for x in args.only.split(",") if x.strip()} or set(BENCHES) - set(OPT_IN))
    skipped = "" if args.only else "; ".join(f"{n} ({why}): --only {n}" for n, why in OPT_IN.items())
    if skipped:
        print(f"opt-in benchmarks not run: {skipped}", file=sys.stderr)
    modules: list[str] = []
    for n in wanted:
        if BENCHES[n][0] not in modules:
            modules.append(BENCHES[n][0])
    for name, fn in SHARED:
        if name in modules:
            mod = __import__(name)
            setattr(mod, fn, shared(getattr(mod, fn)))
    started = datetime.now().astimezone()
    rows: list[Row] = []
    timings: list[tuple[str, float]] = []
    failed: list[str] = []
    for name in modules:
        mod = __import__(name)
        t0 = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            rows.extend(mod.run(args.quick))
        except Exception as exc:  # report and go on: one broken benchmark must not hide the others
            import traceback

            traceback.print_exc()
            failed.append(name)
            rows.append(Row(0, f"{name} FAILED", type(exc).__name__, "", "", "", "no", [str(exc)[:500]]))
        timings.append((name, time.perf_counter() - t0))
        print(f"{name} took {timings[-1][1]:.0f} s", file=sys.stderr, flush=True)
    mode = "quick" if args.quick else "full"
    if args.only:
        mode += f" run of benchmarks {args.only} only; a partial"
    head = [
        f"# jd_assets benchmarks ({mode} run)",
        "",
        f"Date: {started:%Y-%m-%d %H:%M %Z}. Machine: {machine()}.",
        f"Command: `python bench/run.py{' --quick' if args.quick else ''}"
        f"{' --only ' + args.only if args.only else ''}`. Duration: {sum(t for _, t in timings):.0f} s "
        f"({'; '.join(f'{name} {t:.0f} s' for name, t in timings)})."
        + (f" Not run (opt-in): {skipped}." if skipped else ""),
        "",
        table(rows),
        "",
        "## Details",
        "",
    ]
    body = []
    for r in rows:
        if r.details:
            body.append(f"**{r.number}. {r.benchmark}**")
            body.append("")
            body.extend(f"- {d}" for d in r.details)
            body.append("")
    report = "\n".join(head + body)
    print(report)
    if args.out:
        notes = Path(args.out).with_suffix(".notes.md")
        text = report
        if notes.exists():
            text += "\n" + notes.read_text()
        Path(args.out).write_text(text)
    total = sum(t for _, t in timings)
    print(f"total {total:.0f} s ({total / 60:.1f} min) for {len(timings)} benchmark modules", file=sys.stderr)
    if failed:
        print(f"FAILED: {', '.join(failed)} (see the tracebacks above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
