"""How sure a result is: bootstrap intervals over test docs, paired differences, McNemar.

Everything works on per-doc outcomes (1 = right, 0 = wrong), so one resample of test
docs is shared by every model and every seed: differences are paired. With several
seeds, each resample also draws the seeds with replacement (a hierarchical bootstrap),
so an interval over seeds covers retraining as well as the test docs. numpy and scipy only, so the report and the tests
import it without spaCy. (The bootstrap is written out rather than scipy.stats.bootstrap
because one set of resampled doc indices is shared by every model, seed and ratio: that
sharing is what pairs them.)
"""
from typing import Dict, List, Optional, Sequence

import numpy

MODEL_NAMES = ("baseline", "teacher", "student")
CONFIDENCE = 0.95
N_RESAMPLES = 2000
# A paired interval wider than this (10 points) cannot tell apart the differences this
# project is about (the original experiment's student gained 7.3 points on average).
WIDE_INTERVAL = 0.10


def resample_indices(n_docs: int, n_resamples: int = N_RESAMPLES, seed: int = 0) -> numpy.ndarray:
    """(n_resamples, n_docs) doc indices drawn with replacement, shared by every comparison."""
    return numpy.random.default_rng(seed).integers(0, n_docs, size=(n_resamples, n_docs))


def interval(samples: numpy.ndarray) -> List[float]:
    tail = (1 - CONFIDENCE) / 2 * 100
    return [float(numpy.percentile(samples, tail)), float(numpy.percentile(samples, 100 - tail))]


def seed_draws(n_seeds: int, n_resamples: int) -> numpy.ndarray:
    """(n_resamples, n_seeds) seeds drawn with replacement. The same for every call with the
    same shape, so two models trained with the same seeds are resampled in pairs."""
    return numpy.random.default_rng(1_000_003 * n_seeds + n_resamples).integers(0, n_seeds, (n_resamples, n_seeds))


def resampled_accuracy(correct: numpy.ndarray, indices: numpy.ndarray) -> numpy.ndarray:
    """Accuracy per resample; `correct` is (n_docs,) or (n_seeds, n_docs).

    With several seeds the bootstrap is hierarchical: each resample draws seeds with
    replacement as well as test docs, so the interval covers retraining (the spread over
    seeds) as well as the choice of test docs, not only the latter."""
    correct = numpy.atleast_2d(numpy.asarray(correct, dtype=float))
    per_seed = correct[:, indices].mean(axis=2)  # (n_seeds, n_resamples)
    if len(correct) == 1:
        return per_seed[0]
    draws = seed_draws(len(correct), indices.shape[0])
    return per_seed[draws, numpy.arange(indices.shape[0])[:, None]].mean(axis=1)


def mcnemar_p(a_correct: Sequence[int], b_correct: Sequence[int]) -> float:
    """Exact two-sided McNemar test: a binomial test on the discordant docs."""
    from scipy.stats import binomtest

    a, b = numpy.asarray(a_correct, bool), numpy.asarray(b_correct, bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def accuracy_summary(correct, indices: numpy.ndarray) -> Dict:
    """Accuracy and its 95% interval; with several seeds, also the per-seed values."""
    rows = numpy.atleast_2d(numpy.asarray(correct, dtype=float))
    per_seed = rows.mean(axis=1)
    out = {"accuracy": float(per_seed.mean()), "ci": interval(resampled_accuracy(rows, indices))}
    if len(rows) > 1:
        out.update(per_seed=[float(x) for x in per_seed], sd=float(per_seed.std(ddof=1)))
    return out


def macro_f_interval(predicted: numpy.ndarray, gold: numpy.ndarray, n_classes: int,
                     indices: numpy.ndarray) -> List[float]:
    """95% interval of the macro F (the mean over classes of 2TP / (2TP + FP + FN), a class
    with none of these counting 0, as spaCy's scorer has it) over the shared resamples."""
    pred, true = predicted[indices], gold[indices]
    scores = []
    for c in range(n_classes):
        tp = ((pred == c) & (true == c)).sum(axis=1)
        wrong = ((pred == c) != (true == c)).sum(axis=1)  # FP + FN
        scores.append(numpy.where(tp > 0, 2 * tp / numpy.maximum(2 * tp + wrong, 1), 0.0))
    return interval(numpy.mean(scores, axis=0))


def paired_difference(a_correct, b_correct, indices: numpy.ndarray) -> Dict:
    """a - b in accuracy with a paired bootstrap interval (pooled over seeds when 2-D)."""
    a = numpy.atleast_2d(numpy.asarray(a_correct, dtype=float))
    b = numpy.atleast_2d(numpy.asarray(b_correct, dtype=float))
    diffs = resampled_accuracy(a, indices) - resampled_accuracy(b, indices)
    ci = interval(diffs)
    # Seed by seed where both have seeds; one run is set against every seed of the other
    # (e.g. a one-seed run against a three-seed one).
    n_pairs = min(len(a), len(b))
    a_rows, b_rows = numpy.broadcast_arrays(a, b) if n_pairs == 1 else (a[:n_pairs], b[:n_pairs])
    out = {"difference": float(a.mean() - b.mean()), "ci": ci,
           "mcnemar_p": [mcnemar_p(x, y) for x, y in zip(a_rows, b_rows)],
           "excludes_zero": ci[0] > 0 or ci[1] < 0}
    if len(a_rows) > 1:
        out["per_seed"] = [float(x) for x in a_rows.mean(axis=1) - b_rows.mean(axis=1)]
    return out


def distillation_ratios(baseline, teacher, student, indices: numpy.ndarray) -> Dict:
    """Gap closed and error reduction with intervals, or None and the reason.

    gap closed = (student - baseline) / (teacher - baseline);
    error reduction = (student - baseline) / (1 - baseline).
    Both are meaningless when the teacher does not measurably beat the baseline.
    """
    acc = {name: resampled_accuracy(x, indices) for name, x in
           (("baseline", baseline), ("teacher", teacher), ("student", student))}
    point = {name: float(numpy.atleast_2d(numpy.asarray(x, float)).mean()) for name, x in
             (("baseline", baseline), ("teacher", teacher), ("student", student))}
    gap, gap_ci = point["teacher"] - point["baseline"], interval(acc["teacher"] - acc["baseline"])
    why: Optional[str] = None
    if gap <= 0:
        why = f"the teacher does not beat the baseline (gap {100 * gap:+.1f} points)"
    elif gap_ci[0] <= 0:
        why = (f"the baseline-to-teacher gap ({100 * gap:+.1f} points, 95% interval "
               f"{100 * gap_ci[0]:+.1f} to {100 * gap_ci[1]:+.1f}) is not measurably above 0")
    out = {"teacher_gap": gap, "teacher_gap_ci": gap_ci, "why_null": why,
           "gap_closed": None, "gap_closed_ci": None, "error_reduction": None, "error_reduction_ci": None}
    if why is None:
        gain = acc["student"] - acc["baseline"]
        valid = (acc["teacher"] - acc["baseline"]) > 0
        out["gap_closed"] = (point["student"] - point["baseline"]) / gap
        out["gap_closed_ci"] = interval(gain[valid] / (acc["teacher"] - acc["baseline"])[valid])
        # resamples where the teacher does not beat the baseline have no ratio: the interval is
        # conditional on the rest, and says how many it left out
        out["gap_closed_ci_dropped"] = float(1 - valid.mean())
        out["error_reduction"] = (point["student"] - point["baseline"]) / (1 - point["baseline"])
        out["error_reduction_ci"] = interval(gain / numpy.maximum(1e-9, 1 - acc["baseline"]))
    return out


def fmt_pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def fmt_ci(ci: Optional[Sequence[float]], signed: bool = False) -> str:
    if ci is None:
        return "-"
    form = "{:+.1f}" if signed else "{:.1f}"
    return f"[{form.format(100 * ci[0])}, {form.format(100 * ci[1])}]"


def difference_line(label: str, d: Dict) -> str:
    """One markdown bullet for a paired difference, saying so when it is not measurable."""
    verdict = "" if d["excludes_zero"] else " (no measurable difference: the interval spans 0)"
    per_seed = f", per seed {', '.join(f'{100 * x:+.1f}' for x in d['per_seed'])}" if "per_seed" in d else ""
    p_values = ", ".join(f"{p:.3f}" for p in d["mcnemar_p"])
    return (f"- {label}: {100 * d['difference']:+.2f} points, paired 95% interval {fmt_ci(d['ci'], True)}"
            f"{per_seed}; McNemar p = {p_values}{verdict}")


def too_wide_note(d: Dict, n_test: int) -> Optional[str]:
    """A plain warning when a paired difference's interval is too wide to conclude anything."""
    width = d["ci"][1] - d["ci"][0]
    if width <= WIDE_INTERVAL:
        return None
    return (f"with {n_test} test reviews the paired 95% interval is {100 * width:.1f} points wide: too wide to "
            "conclude anything about this difference; it needs more test reviews")


def ratios_line(r: Dict) -> str:
    if r["why_null"]:
        return f"- Gap closed and error reduction are not given: {r['why_null']}."
    dropped = r.get("gap_closed_ci_dropped") or 0.0
    note = (f" (over the {100 * (1 - dropped):.1f}% of resamples in which the teacher beats the baseline)"
            if dropped else "")
    return (f"- Baseline-to-teacher gap closed by the student: {fmt_pct(r['gap_closed'])}% "
            f"{fmt_ci(r['gap_closed_ci'])}{note}; error reduction over the baseline: {fmt_pct(r['error_reduction'])}% "
            f"{fmt_ci(r['error_reduction_ci'])}")


def headline(metrics: Dict, seeds: Optional[Dict] = None) -> Dict:
    """A run's numbers for a table row: student and baseline as the mean over seeds with
    pooled intervals when seeds ran (seeds.json), else the single run's (metrics.json);
    the teacher is the run's one model either way."""
    m = metrics["models"]
    out = {"n_seeds": seeds["n_seeds"] if seeds else 1,
           "accuracy": {n: m[n]["accuracy"] for n in MODEL_NAMES}, "ci": {n: m[n]["accuracy_ci"] for n in MODEL_NAMES},
           "student_vs_baseline": metrics["comparisons"]["student_vs_baseline"]}
    ratios = metrics
    if seeds:
        for name in ("student", "baseline"):
            out["accuracy"][name] = seeds["models"][name]["accuracy"]
            out["ci"][name] = seeds["models"][name]["ci"]
        out["student_vs_baseline"] = seeds["student_vs_baseline"]
        ratios = seeds
    for key in ("gap_closed", "gap_closed_ci", "error_reduction", "error_reduction_ci", "why_null"):
        out[key] = ratios[key]
    return out


def language_row(lang: str, metrics: Dict, seeds: Optional[Dict], wall: Dict, reused: List[str]) -> Dict:
    """One language's numbers: from the seeds when they ran (student and baseline as the
    mean over seeds, pooled intervals), else from the single run's metrics."""
    m = metrics["models"]
    row = {"lang": lang, "n_train": metrics["n_train"], "n_test": metrics["n_test"],
           "test_sha256": metrics.get("test_sha256"), **headline(metrics, seeds),
           "docs_per_sec": {n: m[n]["docs_per_sec"] for n in MODEL_NAMES},
           "wall_seconds": wall, "reused": reused,
           # per test doc, for paired comparisons with the other kind of teacher (per seed with seeds)
           "correct": {n: (seeds or {}).get("correct", {}).get(n) or m[n].get("correct") for n in MODEL_NAMES}}
    row["too_wide"] = too_wide_note(row["student_vs_baseline"], row["n_test"])
    return row
