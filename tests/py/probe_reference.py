#!/usr/bin/env python3
"""Reference for witcurate's linear probe: scikit-learn's LogisticRegression
(L-BFGS, the CLIP paper's probe) on real features, the handwritten digits
bundled with scikit-learn (UCI ML hand-written digits, CC BY 4.0).

Writes OUT/train.csv and OUT/test.csv (label, then the features) and
OUT/reference.json with the regularisation strength scikit-learn's sweep
chooses and its test accuracy. The sweep is the one witcurate runs
(trainer/src/probe.rs): validation = every fifth training vector of each
class, C over 10^-6..10^6 one point per decade, then eight per decade over
the decade on each side of the best; ties go to the smaller C; refit on the
whole training set."""
import json
import math
import sys
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

warnings.simplefilter("ignore", ConvergenceWarning)
out = sys.argv[1]
x, y = load_digits(return_X_y=True)
x = x / 16.0
xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
for name, xs, ys in (("train", xtr, ytr), ("test", xte, yte)):
    with open(f"{out}/{name}.csv", "w") as f:
        for row, label in zip(xs, ys):
            f.write(",".join([str(int(label))] + [repr(float(v)) for v in row]) + "\n")

seen = {}
fit_idx, val_idx = [], []
for i, label in enumerate(ytr):
    n = seen.get(label, 0)
    (val_idx if n % 5 == 4 else fit_idx).append(i)
    seen[label] = n + 1


def val_acc(c):
    m = LogisticRegression(C=c, max_iter=1000).fit(xtr[fit_idx], ytr[fit_idx])
    return m.score(xtr[val_idx], ytr[val_idx])


sweep = {c: val_acc(c) for c in (10.0 ** e for e in range(-6, 7))}


def best(s):
    b = None
    for c in sorted(s):
        if b is None or s[c] > s[b]:
            b = c
    return b


lb = math.log10(best(sweep))
for i in range(-8, 9):
    c = 10 ** (lb + i / 8)
    if i % 8 != 0 and 1e-6 <= c <= 1e6:
        sweep[c] = val_acc(c)
c = best(sweep)
model = LogisticRegression(C=c, max_iter=1000).fit(xtr, ytr)
json.dump({"c": c, "top1": model.score(xte, yte), "train": len(ytr), "test": len(yte)},
          open(f"{out}/reference.json", "w"))
