"""measure.py against known numbers: McNemar, interval coverage, the ratios, calibration; and evaluate's speed rounds."""
import json

import numpy
import pytest
from scipy.stats import binomtest

from scripts.evaluation.measure import distillation_ratios, mcnemar_p, paired_difference, resample_indices


@pytest.mark.parametrize("only_a,only_b,both", [(10, 3, 50), (0, 7, 20), (25, 25, 5), (1, 0, 0)])
def test_mcnemar_is_the_exact_binomial_test_on_discordant_docs(only_a, only_b, both):
    a = [1] * only_a + [0] * only_b + [1] * both
    b = [0] * only_a + [1] * only_b + [1] * both
    assert mcnemar_p(a, b) == pytest.approx(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def test_mcnemar_by_hand():
    # 10 docs only a gets right, 3 only b: p = 2 * sum_{i<=3} C(13, i) / 2^13
    a, b = [1] * 10 + [0] * 3 + [1] * 40, [0] * 10 + [1] * 3 + [1] * 40
    assert mcnemar_p(a, b) == pytest.approx(2 * (1 + 13 + 78 + 286) / 2 ** 13)
    assert mcnemar_p([1, 0], [1, 0]) == 1.0


def test_paired_interval_covers_the_true_difference_about_95_percent_of_the_time():
    rng = numpy.random.default_rng(0)
    n_docs, true_diff, covered, runs = 300, 0.05, 0, 120
    for run in range(runs):
        # two correlated models: b is right where a is, except on a random 5% more of the docs
        a = (rng.random(n_docs) < 0.80).astype(int)
        flip = rng.random(n_docs) < true_diff / 0.80
        b = numpy.where(a & flip, 0, a)
        ci = paired_difference(a, b, resample_indices(n_docs, 1000, seed=run))["ci"]
        covered += ci[0] <= true_diff <= ci[1]
    assert 0.88 <= covered / runs <= 0.995, covered / runs


def test_ratios_on_a_known_case():
    n = 1000
    baseline = numpy.array([1] * 800 + [0] * 200)
    teacher = numpy.array([1] * 900 + [0] * 100)
    student = numpy.array([1] * 850 + [0] * 150)
    r = distillation_ratios(baseline, teacher, student, resample_indices(n, 500))
    assert r["why_null"] is None
    assert r["gap_closed"] == pytest.approx(0.5) and r["error_reduction"] == pytest.approx(0.25)
    assert r["teacher_gap"] == pytest.approx(0.1)
    assert r["gap_closed_ci"][0] < 0.5 < r["gap_closed_ci"][1] and r["gap_closed_ci_dropped"] == 0.0


def test_ratios_are_withheld_with_the_reason_when_the_teacher_gap_is_not_measurable():
    """The branch the tiny workflow run usually takes, checked on known numbers: no ratio
    when the teacher does not beat the baseline, or not measurably."""
    baseline = numpy.array([1] * 80 + [0] * 20)
    student = numpy.array([1] * 85 + [0] * 15)
    same = distillation_ratios(baseline, baseline.copy(), student, resample_indices(100, 500))
    assert "does not beat the baseline (gap +0.0 points)" in same["why_null"]
    assert same["gap_closed"] is None and same["error_reduction"] is None and same["gap_closed_ci"] is None
    teacher = baseline.copy()
    teacher[80] = 1  # one doc better out of 100: +1 point, an interval that spans 0
    slight = distillation_ratios(baseline, teacher, student, resample_indices(100, 500))
    assert "is not measurably above 0" in slight["why_null"] and slight["teacher_gap"] == pytest.approx(0.01)
    assert slight["gap_closed"] is None


def test_ratios_say_how_many_resamples_they_dropped():
    # the teacher beats the baseline by a margin some resamples reverse
    rng = numpy.random.default_rng(1)
    n = 200
    baseline = (rng.random(n) < 0.80).astype(int)
    teacher = baseline.copy()
    teacher[numpy.flatnonzero(baseline == 0)[:9]] = 1
    teacher[numpy.flatnonzero(baseline == 1)[:2]] = 0
    student = baseline.copy()
    r = distillation_ratios(baseline, teacher, student, resample_indices(n, 2000))
    assert r["why_null"] is None and 0.0 < r["gap_closed_ci_dropped"] < 0.05


def test_calibration_of_known_probabilities():
    from scripts.evaluation.scoring import calibration

    gold = numpy.array([0] * 9 + [1] * 1)  # column 0 is POS
    as_probs = lambda p: numpy.stack([numpy.full(10, p), numpy.full(10, 1 - p)], axis=1)  # noqa: E731
    perfect = calibration(as_probs(0.9), gold, ["POS", "NEG"])
    assert perfect["ece"] == pytest.approx(0.0, abs=1e-9)
    assert perfect["log_loss"] == pytest.approx(-(0.9 * numpy.log(0.9) + 0.1 * numpy.log(0.1)))
    assert perfect["p_pos_histogram"][9] == 10
    sure = calibration(as_probs(0.999), gold, ["POS", "NEG"])
    assert sure["ece"] == pytest.approx(0.099, abs=1e-6)  # 99.9% sure, 90% right


def test_two_class_calibration_gives_the_binary_formulas_figures_exactly():
    """k classes must not move a binary figure: the log-loss and ECE of P(POS) as the
    project computed them before, to the last bit, probabilities at 0 and 1 included."""
    from scripts.evaluation.scoring import calibration

    rng = numpy.random.default_rng(0)
    p = numpy.concatenate([rng.random(2000), rng.random(200) * 1e-9, 1 - rng.random(200) * 1e-9])
    gold_pos = (rng.random(len(p)) < 0.5).astype(int)
    clipped = numpy.clip(p, 1e-7, 1 - 1e-7)
    log_loss = float(-numpy.mean(gold_pos * numpy.log(clipped) + (1 - gold_pos) * numpy.log(1 - clipped)))
    confidence = numpy.maximum(clipped, 1 - clipped)
    right = (clipped > 0.5) == (gold_pos == 1)
    bins = numpy.minimum((confidence - 0.5) * 2 * 10, 9).astype(int)
    ece = sum(abs(right[bins == b].mean() - confidence[bins == b].mean()) * (bins == b).mean()
              for b in range(10) if (bins == b).any())
    cal = calibration(numpy.stack([p, 1 - p], axis=1), 1 - gold_pos, ["POS", "NEG"])
    assert (cal["log_loss"], cal["ece"]) == (log_loss, float(ece))


def test_calibration_over_three_classes():
    from scripts.evaluation.scoring import calibration

    # always 65% on class 0 (17.5% each other), right 13 times in 20: calibrated, and
    # confidence 0.65 lies in the fifth of ten bins between 1/3 and 1
    probs = numpy.tile([0.65, 0.175, 0.175], (20, 1))
    gold = numpy.array([0] * 13 + [1] * 4 + [2] * 3)
    cal = calibration(probs, gold, ["A", "B", "C"])
    assert cal["ece"] == pytest.approx(0.0, abs=1e-9)
    assert cal["log_loss"] == pytest.approx(-(13 * numpy.log(0.65) + 7 * numpy.log(0.175)) / 20)
    assert cal["confidence_histogram"] == [0, 0, 0, 0, 20, 0, 0, 0, 0, 0] and "p_pos_histogram" not in cal


def test_macro_f_interval_matches_spacys_macro_f_and_covers_it():
    from spacy.scorer import Scorer
    from spacy.tokens import Doc
    from spacy.training import Example
    from spacy.vocab import Vocab

    from scripts.evaluation.measure import macro_f_interval

    rng = numpy.random.default_rng(3)
    labels = ["A", "B", "C"]
    gold = rng.integers(0, 3, 300)
    predicted = numpy.where(rng.random(300) < 0.7, gold, rng.integers(0, 3, 300))
    examples = []
    for g, p in zip(gold, predicted):
        doc = Doc(Vocab(), words=["x"])
        doc.cats = {label: float(i == p) for i, label in enumerate(labels)}
        ref = Doc(doc.vocab, words=["x"])
        ref.cats = {label: float(i == g) for i, label in enumerate(labels)}
        examples.append(Example(doc, ref))
    spacy_f = Scorer.score_cats(examples, "cats", labels=labels, multi_label=False)["cats_macro_f"]
    identity = numpy.arange(300)[None, :]  # the one "resample" that is the test set itself
    assert macro_f_interval(predicted, gold, 3, identity) == pytest.approx([spacy_f, spacy_f])
    low, high = macro_f_interval(predicted, gold, 3, resample_indices(300, 1000))
    assert low < spacy_f < high and high - low < 0.2


def test_an_interval_over_seeds_covers_retraining_not_only_the_test_docs():
    # seed 0 gets 90% right, seed 1 60%, seed 2 75%: the spread over seeds is most of the
    # uncertainty, which resampling only the 2000 test docs would hide (about +-1.5 points)
    rng = numpy.random.default_rng(0)
    n = 2000
    rows = numpy.array([(rng.random(n) < p).astype(int) for p in (0.9, 0.6, 0.75)])
    from scripts.evaluation.measure import accuracy_summary

    summary = accuracy_summary(rows, resample_indices(n, 2000))
    width = summary["ci"][1] - summary["ci"][0]
    assert width > 0.15, summary["ci"]
    # one seed alone: docs only, a narrow interval
    single = accuracy_summary(rows[:1], resample_indices(n, 2000))
    assert single["ci"][1] - single["ci"][0] < 0.04


def test_seeds_are_resampled_in_pairs_across_models():
    # b is a copy of a on every seed: the paired difference is exactly 0 in every resample
    rng = numpy.random.default_rng(2)
    a = (rng.random((3, 500)) < 0.8).astype(int)
    diff = paired_difference(a, a.copy(), resample_indices(500, 500))
    assert diff["ci"] == [0.0, 0.0]


def write_seeds_run(project, run, student, test_sha="abc", n_examples=None):
    """A run as run_seeds leaves it: per seed and test doc, 1 where each model was right."""
    folder = project / "training" / run
    folder.mkdir(parents=True)
    n = len(student[0])
    baseline = [[int(i % 4 != 0) for i in range(n)]] * len(student)  # 75% right
    teacher = [int(i % 10 != 0) for i in range(n)]  # 90% right
    (folder / "seeds.json").write_text(json.dumps({"test_sha256": test_sha, "correct": {
        "student": student, "baseline": baseline, "teacher": teacher}}))
    if n_examples:
        (project / "corpus" / run).mkdir(parents=True)
        (project / "corpus" / run / "augmented.augment.json").write_text(json.dumps({"n_examples": n_examples}))


def test_two_runs_students_are_compared_paired_on_the_same_test_docs(tmp_path):
    from conftest import run_script

    n = 400
    better = [[int(i % 10 != 0) for i in range(n)]] * 3  # as good as the teacher
    worse = [[int(i % 5 != 0) for i in range(n)]] * 3  # 80%: wrong on every doc the better one misses, and more
    write_seeds_run(tmp_path, "with", better, n_examples=5000)
    write_seeds_run(tmp_path, "without", worse, n_examples=5000)
    result = run_script("compare_runs.py", "with", "without", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    r = json.loads((tmp_path / "training/with-vs-without/compare.json").read_text())
    assert r["student_a_minus_b"]["difference"] == pytest.approx(0.10)
    assert r["student_a_minus_b"]["excludes_zero"] and r["student_a_minus_b"]["ci"][0] > 0.05
    assert r["runs"]["with"]["gap_closed"] == pytest.approx(1.0)  # student = teacher
    assert r["runs"]["without"]["gap_closed"] == pytest.approx(0.05 / 0.15)
    assert r["same_teacher"] and r["same_baseline"]
    assert r["runs"]["with"]["transfer_set"]["n_examples"] == 5000
    assert "| with | 5000 | 90.0" in (tmp_path / "training/with-vs-without/compare.md").read_text()


def test_runs_on_different_test_sets_are_not_compared(tmp_path):
    from conftest import run_script
    from test_bad_input import assert_one_clear_line

    write_seeds_run(tmp_path, "a", [[1, 0, 1]] * 2, test_sha="one")
    write_seeds_run(tmp_path, "b", [[1, 1, 1]] * 2, test_sha="two")
    assert_one_clear_line(run_script("compare_runs.py", "a", "b", cwd=tmp_path), "different test sets")
    assert_one_clear_line(run_script("compare_runs.py", "a", "missing", cwd=tmp_path), "missing")


def test_the_teacher_gets_its_own_number_of_speed_rounds_and_docs():
    import random

    import spacy
    from spacy.language import Language

    from scripts.evaluation.speed import speed_rounds

    seen = {}

    @Language.component("count_timed_docs")
    def count_timed_docs(doc):
        seen[doc.lang_ + doc.text] = seen.get(doc.lang_ + doc.text, 0) + 1
        return doc

    models = {name: spacy.blank(lang) for name, lang in (("student", "nl"), ("teacher", "fr"), ("teacher_bf16", "de"))}
    for nlp in models.values():
        nlp.add_pipe("count_timed_docs")
    texts = [f"tekst {i}" for i in range(12)]
    speed, tokenizer = speed_rounds(models, texts, rounds=3, min_seconds=0.0, batch_size=4, rng=random.Random(0),
                                    tokenizer_of=models["student"], rounds_of={"teacher": 1, "teacher_bf16": 1},
                                    docs_of={"teacher": 5, "teacher_bf16": 5})
    assert [len(speed[n]["raw"]) for n in models] == [3, 1, 1]
    assert [len(speed[n]["pretokenized"]) for n in models] == [3, 1, 1]
    # after the warm-up (the first 4 texts), the teachers see only their first 5 texts
    assert {t for t in seen if t.startswith("fr")} == {f"frtekst {i}" for i in range(5)}
    assert {t for t in seen if t.startswith("nl")} == {f"nltekst {i}" for i in range(12)}
    assert len(tokenizer) == 3 and all(r["docs_per_sec"] > 0 for r in speed["teacher"]["raw"])
