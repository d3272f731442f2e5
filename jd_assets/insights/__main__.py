"""Command line of the insights models: ``python -m jd_assets.insights score < reviews.txt``."""

from __future__ import annotations

import argparse
import sys

SCORE_HELP = """\
Read review texts on standard input, one per line (UTF-8; invalid bytes are replaced), and write exactly
one line per input line to standard output, in the same order:

  0.9731                       the probability (0..1, 4 decimals) that the review is positive
  NaN<TAB>unscorable: empty    the line could not be scored, with the reason after the tab:
                                 empty          nothing but whitespace (after removing HTML tags)
                                 no_text        no Chinese character and no latin letter (emoji only, ...)
                                 no_known_ngram no character sequence the model knows

Texts longer than 1,000 characters are scored on their first 1,000. Traditional characters are mapped to
simplified ones; HTML entities are unescaped. --label adds a tab and positive / neutral / negative
(>= 0.6 positive, <= 0.4 negative). The model file's version goes to standard error with --version.

Example:
  printf '味道很好，送餐也快\\n等了两个小时，饭都凉了\\n' | python -m jd_assets.insights score
"""


def score(args: argparse.Namespace) -> int:
    from jd_assets.insights import sentiment

    out = sys.stdout
    size = 1 if sys.stdin.isatty() else args.batch  # typing at a terminal: answer each line at once
    batch: list[str] = []

    def flush() -> None:
        if not batch:
            return
        df = sentiment.score_texts(batch)
        for prob, reason in df.iter_rows():
            if prob is None:
                out.write(f"NaN\tunscorable: {reason}\n")
            elif args.label:
                out.write(f"{prob:.4f}\t{sentiment.sentiment_label(prob)}\n")
            else:
                out.write(f"{prob:.4f}\n")
        out.flush()
        batch.clear()

    if args.version:
        print(sentiment.model_version(), file=sys.stderr)
    for raw in sys.stdin.buffer:  # lines end at \n only (a stray \r inside a line does not split it)
        batch.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
        if len(batch) >= size:
            flush()
    flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jd_assets.insights", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    sp = sub.add_parser(
        "score",
        help="probability that each review on stdin is positive",
        description=SCORE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sp.add_argument("--label", action="store_true", help="also print positive / neutral / negative")
    sp.add_argument("--version", action="store_true", help="print the model version to standard error")
    sp.add_argument(
        "--batch",
        type=int,
        default=50_000,
        help="lines scored together (default 50000; 1 when stdin is a terminal)",
    )
    args = ap.parse_args(argv)
    if args.batch < 1:
        ap.error("--batch must be at least 1")
    try:
        return score(args)
    except BrokenPipeError:  # e.g. piped into head
        return 0


if __name__ == "__main__":
    sys.exit(main())
