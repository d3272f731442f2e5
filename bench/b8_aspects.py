"""8. Review aspects: quality on the held-out half of the hand-labelled set, and throughput.

Quality: jd_assets.insights.aspects.evaluate over jd_assets_tests/insights/data/aspect_labels.jsonl (389
JD-style reviews written and labelled by hand; see docs/ASPECTS.md). The lexicon was
tuned on the ``dev`` half only; the figures reported are those of the ``test`` half (dev shown beside).
Per aspect: precision / recall / F1 of detection (aspect named in the review) and of aspect + polarity.

Throughput: ``text_signals`` (aspects, tags, repurchase, template key) over N synthetic reviews drawn from
the sandbox's comment pools (default fillers, templates, complaints, multi-line tag reviews, 1-6 praise
fragments, emoji); one process, the machine's threads, best of 2 runs after a warm-up on 1,000 rows.

Run alone: ``python bench/b8_aspects.py [--quick]`` prints the tables in markdown.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]

from common import ROOT, Row, fmt_rate  # noqa: E402

LABELS = ROOT / "jd_assets_tests" / "insights" / "data" / "aspect_labels.jsonl"
COMMON_MIN_GOLD = 12  # "common" aspects: at least this many gold mentions in the test half
PRECISION_BAR = 0.8
RATE_BAR = 20_000


def synthetic(n: int, seed: int = 7):
    import polars as pl

    from jd_sandbox import texts as t

    r = random.Random(seed)
    pool = [*t.POSITIVE_FRAGMENTS, *t.NEUTRAL_FRAGMENTS, *t.MIXED_TEXTS]

    def one() -> str:
        u = r.random()
        if u < 0.10:
            return r.choice(t.DEFAULT_TEXTS)
        if u < 0.18:
            return r.choice(list(t.TEMPLATE_TEXTS))
        if u < 0.28:
            return r.choice(list(t.NEGATIVE_TEXTS)) + r.choice(("",) * 3 + t.ANGRY_EMOJI)
        if u < 0.38:
            a, b, c = r.sample(pool, 3)
            return r.choice(t.MULTILINE_TEMPLATES).format(a=a, b=b, c=c)
        return ",".join(r.sample(pool, r.randint(1, 6))) + r.choice(("", "!", "~", "。", *t.EMOJI))

    return pl.DataFrame({"comment_id": [str(i) for i in range(n)], "text": [one() for _ in range(n)]})


def scores(split: str):
    import polars as pl

    from jd_assets.insights.aspects import evaluate

    return evaluate(pl.read_ndjson(LABELS).filter(pl.col("split") == split))


#: Runs of text_signals a size, best kept: 2 (3 before, 70 of the benchmark's 77 s at load 9); the size stays
#: at 100k because the rate per CPU-second at 20k read 8-28% higher than at 100k (a smaller size flatters).
REPS = 2


def throughput(n: int, joined: int = 1) -> dict:
    """Best of REPS runs of text_signals over n synthetic reviews, each made of ``joined`` pool texts (joined
    by a comma or a line break: longer, multi-line reviews); wall and CPU seconds of this process."""
    import polars as pl

    from jd_assets.insights.aspects import text_signals

    pool = synthetic(n * joined)["text"].to_list()
    chunks = (pool[i * joined : (i + 1) * joined] for i in range(n))
    texts = [",".join(c[:-1]) + "\n" + c[-1] if joined > 1 else c[0] for c in chunks]
    frame = pl.DataFrame({"comment_id": [str(i) for i in range(n)], "text": texts})
    text_signals(frame.head(1_000))
    wall = cpu = float("inf")
    for _ in range(REPS):
        t0, c0 = time.perf_counter(), time.process_time()
        text_signals(frame)
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return {
        "rate": n / wall,
        "wall": wall,
        "cpu_rate": n / cpu,
        "chars": float(frame["text"].str.len_chars().mean()),
    }


def markdown(test, dev) -> list[str]:
    import polars as pl

    both = test.join(dev, on=["task", "aspect"], suffix="_dev").sort(
        "task", pl.col("aspect") == "ALL", "aspect"
    )
    out = [
        "| task | aspect | gold (test) | P test | R test | F1 test | P dev | R dev |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def f(x):
        return "–" if x is None else f"{x:.2f}"

    for r in both.iter_rows(named=True):
        out.append(
            f"| {r['task']} | {r['aspect']} | {r['gold']} | {f(r['precision'])} | {f(r['recall'])} | "
            f"{f(r['f1'])} | {f(r['precision_dev'])} | {f(r['recall_dev'])} |"
        )
    return out


def run(quick: bool) -> list[Row]:
    import polars as pl

    test, dev = scores("test"), scores("dev")
    det = test.filter(pl.col("task") == "detection")
    common = det.filter((pl.col("gold") >= COMMON_MIN_GOLD) & (pl.col("aspect") != "ALL"))
    worst = common.sort("precision").row(0, named=True)
    micro = {
        t: test.filter((pl.col("task") == t) & (pl.col("aspect") == "ALL")).row(0, named=True)
        for t in ("detection", "with_polarity")
    }
    n = 20_000 if quick else 100_000
    load = os.getloadavg()[0]
    short, long = throughput(n), throughput(n, joined=3)
    quality = Row(
        8,
        "Review aspects: precision, held-out half",
        f"min {worst['precision']:.2f} ({worst['aspect']}) over {common.height} common aspects; micro P/R "
        f"{micro['detection']['precision']:.2f}/{micro['detection']['recall']:.2f} (with polarity "
        f"{micro['with_polarity']['precision']:.2f}/{micro['with_polarity']['recall']:.2f})",
        "hand labels",
        f"{worst['precision']:.2f}",
        f">= {PRECISION_BAR} on common aspects",
        "yes" if worst["precision"] >= PRECISION_BAR else "no",
        [
            f"{micro['detection']['gold']} gold aspect mentions in the test half; "
            f"common = at least {COMMON_MIN_GOLD} gold mentions there: {', '.join(common['aspect'])}.",
            *markdown(test, dev),
        ],
    )
    speed = Row(
        8,
        "Review aspects: throughput",
        f"{fmt_rate(short['rate'])} reviews/s ({short['chars']:.0f} chars); "
        f"{fmt_rate(long['rate'])} reviews/s ({long['chars']:.0f} chars)",
        f"{fmt_rate(RATE_BAR)} reviews/s (goal)",
        f"{short['rate'] / RATE_BAR:.2f}; {long['rate'] / RATE_BAR:.2f}",
        ">= 1",
        "yes"
        if min(short["rate"], long["rate"]) >= RATE_BAR
        else ("short only" if short["rate"] >= RATE_BAR else "no"),
        [
            f"text_signals (aspects, tags, repurchase, template key) over {n:,} synthetic reviews, best of {REPS} "
            f"runs: sandbox-like texts (mean {short['chars']:.1f} characters) {short['wall']:.2f} s, "
            f"{fmt_rate(short['cpu_rate'])} reviews per CPU-second; three of them joined by a comma and a "
            f"line break (mean {long['chars']:.1f} characters) {long['wall']:.2f} s, "
            f"{fmt_rate(long['cpu_rate'])} reviews per CPU-second.",
            f"polars {pl.__version__}, {pl.thread_pool_size()} threads; load average before the runs "
            f"{load:.1f} on {os.cpu_count()} CPUs (the machine is shared: a busy machine lowers the wall rate, "
            "not the per-CPU-second one).",
        ],
    )
    return [quality, speed]


if __name__ == "__main__":
    for row in run("--quick" in sys.argv):
        print(f"## {row.benchmark}\n\n{row.measured} (bar {row.bar}: {row.met})\n")
        print("\n".join(row.details) + "\n")
