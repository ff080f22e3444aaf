"""The `languages` workflow's planning and summary, and the warning for intervals too wide to read."""
import json
import shutil

import pytest

from scripts.shared.cli_support import InputError
from conftest import ROOT, run_script


def metrics_for(n_test, accuracies, diff_ci, gap=None):
    # pre-tokenized docs/s, then end to end (raw text); the teacher's bf16 runtime labels 1.5x as fast
    models = {name: {"accuracy": acc, "accuracy_ci": [acc - 0.02, acc + 0.02], "docs_per_sec": speed,
                     "raw_docs_per_sec": raw}
              for (name, acc), speed, raw in zip(accuracies.items(), (3000.0, 30.0, 2900.0), (2500.0, 20.0, 2400.0))}
    return {"n_train": 500, "n_test": n_test, "n_synthetic": 20000, "models": models,
            "transfer_set": {"rounds": 18.36, "saturated": False}, "labelling": {"runtime": "bf16"},
            "student_speedup": {"vs_teacher_fp32": 2400.0 / 20.0, "vs_teacher_fastest": 2400.0 / 30.0,
                                "teacher_runtime": "bf16"},
            "comparisons": {"student_vs_baseline": {"difference": accuracies["student"] - accuracies["baseline"],
                                                    "ci": diff_ci, "excludes_zero": diff_ci[0] > 0,
                                                    "mcnemar_p": [0.01]}},
            "gap_closed": gap, "gap_closed_ci": None if gap is None else [gap - 0.3, gap + 0.3],
            "error_reduction": None if gap is None else 0.2, "error_reduction_ci": None if gap is None else [0.1, 0.3],
            "why_null": None if gap is not None else "the teacher does not beat the baseline (gap +0.0 points)"}


def test_each_listed_language_reads_its_converted_reviews_and_the_projects_lang_its_own_file(tmp_path):
    from scripts.experiments.language_plan import plan_languages

    shutil.copy(ROOT / "project.yml", tmp_path)  # where each language's reviews file is named
    (tmp_path / "assets" / "reviews").mkdir(parents=True)
    for lang in ("nl", "fr"):
        (tmp_path / "assets" / "reviews" / f"{lang}.jsonl").write_text("{}\n")
    (tmp_path / "mine.csv").write_text("text,stars\n")
    plan = plan_languages("nl, fr", "it", "mine.csv", tmp_path)
    assert list(plan) == ["nl", "fr", "it"]
    assert plan["it"] == (tmp_path / "mine.csv").resolve()
    assert plan["fr"] == (tmp_path / "assets/reviews/fr.jsonl").resolve()
    assert plan_languages("nl,fr", "fr", "mine.csv", tmp_path)["fr"] == (tmp_path / "mine.csv").resolve()
    with pytest.raises(InputError, match="no reviews for 'de'.*--vars.lang de --vars.reviews"):
        plan_languages("nl,de", "nl", "assets/reviews/nl.jsonl", tmp_path)


def test_the_pooled_teacher_learns_every_language_by_default_and_own_gives_one_teacher_each(tmp_path):
    from scripts.experiments.language_plan import parse_teacher_langs

    plan = {"nl": tmp_path, "fr": tmp_path, "de": tmp_path}
    assert parse_teacher_langs("all", plan) == ["nl", "fr", "de"]
    assert parse_teacher_langs("own", plan) == [] and parse_teacher_langs("", plan) == []
    assert parse_teacher_langs("fr, nl,fr", plan) == ["fr", "nl"]
    with pytest.raises(InputError, match="teacher_langs 'nl,it': it not among the languages run"):
        parse_teacher_langs("nl,it", plan)


def test_a_language_without_reviews_is_one_line_naming_the_fix(tmp_path):
    shutil.copy(ROOT / "project.yml", tmp_path)
    result = run_script("languages.py", "--langs", "xx", "--lang", "xx", "--vars", "reviews=none.jsonl", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no reviews for 'xx'" in lines[0] and "Traceback" not in result.stderr


def test_languages_run_side_by_side_with_the_cores_shared_out_and_results_in_order():
    import threading

    from scripts.experiments.points import side_by_side, thread_env

    both_running = threading.Barrier(2, timeout=10)  # times out unless two tasks run at once

    def task(name):
        both_running.wait()
        return name

    assert side_by_side([lambda: task("nl"), lambda: task("fr")], jobs=2) == ["nl", "fr"]
    env = thread_env(2, cores=2)
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert thread_env(2, cores=8)["OMP_NUM_THREADS"] == "4" and thread_env(1, cores=2) is None


def test_languages_start_longest_first_after_the_projects_own(tmp_path):
    import spacy
    from spacy.tokens import DocBin

    from scripts.experiments.language_plan import DEV_TEST_READS, run_order, teacher_words

    nlp = spacy.blank("xx")

    def corpus(name, n, words):
        folder = tmp_path / name
        folder.mkdir()
        for split in ("train", "dev", "test"):
            DocBin(docs=[nlp(" ".join(["woord"] * words)) for _ in range(n)]).to_disk(folder / f"{split}.spacy")
        return folder

    # 10 reviews of 200 words: the word budget (50 per example) caps the transfer set
    long_reviews = teacher_words(corpus("de", 10, 200), synthetic_size=1000, words_per_example=50)
    assert long_reviews == 1000 * 50 + DEV_TEST_READS * 2 * 10 * 200
    short_reviews = teacher_words(corpus("en", 100, 20), synthetic_size=1000, words_per_example=50)
    assert short_reviews == 1000 * 20 + DEV_TEST_READS * 2 * 100 * 20
    assert teacher_words(tmp_path / "de", 1000, 0) == 1000 * 200 + DEV_TEST_READS * 2 * 10 * 200  # 0: no budget
    assert teacher_words(tmp_path / "missing", 1000, 50) is None
    estimates = {"fr": long_reviews + 1, "en": short_reviews, "de": long_reviews, "es": None}
    assert run_order(["nl", "fr", "en", "es", "de"], "nl", estimates) == ["nl", "fr", "de", "en", "es"]
    # no estimates (no corpus made yet): the listed order, the project's own language first
    assert run_order(["fr", "nl", "en"], "nl", {}) == ["nl", "fr", "en"]


def test_a_failed_language_lets_the_others_finish_and_names_each_failure():
    from scripts.experiments.points import side_by_side

    finished = []

    def fails(name):
        raise InputError(f"{name}: teacher failed; see its log")

    def works():
        finished.append("en")
        return "en"

    with pytest.raises(InputError, match="fr: teacher failed.*de: teacher failed"):
        side_by_side([lambda: fails("fr"), works, lambda: fails("de")], jobs=2)
    assert finished == ["en"]


def test_an_interval_too_wide_to_conclude_anything_is_said_plainly():
    from scripts.evaluation.measure import too_wide_note

    assert too_wide_note({"ci": [-0.04, 0.05]}, 978) is None
    note = too_wide_note({"ci": [-0.158, 0.105]}, 38)
    assert "38 test reviews" in note and "26.3 points wide" in note and "too wide to conclude" in note


def test_summary_uses_the_seeds_when_they_ran_and_flags_small_languages():
    from scripts.experiments.languages import summary_row
    from scripts.experiments.render import summary_markdown

    nl = metrics_for(978, {"baseline": 0.90, "teacher": 0.93, "student": 0.92}, [0.003, 0.04], gap=0.7)
    seeds = {"n_seeds": 3, "models": {"student": {"accuracy": 0.925, "ci": [0.91, 0.94]},
                                      "baseline": {"accuracy": 0.899, "ci": [0.88, 0.92]}},
             "student_vs_baseline": {"difference": 0.026, "ci": [0.01, 0.04], "excludes_zero": True,
                                     "mcnemar_p": [0.01, 0.02, 0.03]},
             "gap_closed": 0.8, "gap_closed_ci": [0.4, 1.2], "error_reduction": 0.26,
             "error_reduction_ci": [0.1, 0.4], "why_null": None}
    de = metrics_for(38, {"baseline": 0.5, "teacher": 0.5, "student": 0.5}, [-0.16, 0.1])
    # de's long reviews: the word budget ended its set before synthetic_size
    de["n_synthetic"], de["transfer_set"] = 6400, {"rounds": 168.4, "saturated": False, "word_capped": True,
                                                    "n_words": 1000150}
    rows = [summary_row("nl", nl, seeds, {"point": 600.0, "seeds": 300.0}, []),
            summary_row("de", de, None, {"point": 120.0}, [])]
    assert rows[0]["accuracy"]["student"] == 0.925 and rows[0]["accuracy"]["teacher"] == 0.93
    assert rows[0]["n_seeds"] == 3 and rows[1]["n_seeds"] == 1
    text = summary_markdown(rows)
    assert "| nl | 500 | 978 | 3 | 89.9 [88.0, 92.0] | 93.0 [91.0, 95.0] | 92.5 [91.0, 94.0] | +2.6 [+1.0, +4.0] |" \
        in text
    # the transfer set, then end-to-end speeds: against the fp32 teacher and its fastest gated runtime
    assert "| 20,000 (18.36), bf16 | 2,400 | 20.0 / 30.0 (bf16) | 120x / 80x | 15.0 min |" in text
    assert "| 6,400 (168.4), word budget, bf16 |" in text
    assert "| average (2 languages) | | | | 70.0 | 71.5 | 71.2 | +1.3 | 26.0 | 80.0 | 13,200 |" in text
    assert "| original experiment (6 languages) | | | | | | | +7.3 | 39 | 87 | 60,000 |" in text
    assert "**de: student - baseline with 38 test reviews the paired 95% interval is 26.0 points wide" in text
    assert "de: no gap closed or error reduction: the teacher does not beat the baseline" in text
    assert json.loads(json.dumps(rows)) == rows  # languages.json holds the same rows


def test_a_pooled_teacher_marks_the_languages_it_saw_no_labels_of():
    from scripts.experiments.languages import summary_row
    from scripts.experiments.render import summary_markdown

    rows = [summary_row(lang, metrics_for(500, {"baseline": 0.8, "teacher": 0.9, "student": 0.85}, [0.01, 0.09],
                                           gap=0.5), None, {"point": 60.0}, reused)
            for lang, reused in (("nl", ["seeds"]), ("es", []))]
    teacher = {"langs": ["nl"], "n_train": 500, "steps": 150, "wall_seconds": {"teacher": 600.0}, "reused": []}
    text = summary_markdown(rows, teacher)
    assert "pooled training reviews of nl (500 reviews, 150 steps)" in text
    assert "| es | 500 | 500 | 1 | 80.0 [78.0, 82.0] | 90.0 [88.0, 92.0]† |" in text
    assert "| nl | 500 | 500 | 1 | 80.0 [78.0, 82.0] | 90.0 [88.0, 92.0] |" in text
    assert "**es: cross-lingual transfer: the teacher saw no labelled es review.**" in text
    assert "nl: cross-lingual" not in text
    assert "1.0 min (+ seeds reused) |" in text and "trained once, in 10.0 min" in text


def test_own_and_pooled_teachers_are_compared_paired_on_the_same_test_reviews():
    from scripts.experiments.render import compare_teachers

    n = 400
    own_teacher = [1] * 360 + [0] * 40  # 90%
    pooled_teacher = [1] * 320 + [0] * 80  # 80%: 40 more wrong on the same docs
    student = [[1] * 340 + [0] * 60] * 2  # 85% on both seeds

    def result(teacher_correct, langs, test_sha="abc", n_seeds=1):
        # extra seeds take wall time too, but only one pass of the pipeline is compared
        wall = {"point": 120.0, **({"seeds": 600.0} if n_seeds > 1 else {})}
        row = {"lang": "nl", "n_test": n, "test_sha256": test_sha, "wall_seconds": wall, "reused": [], "n_seeds": n_seeds,
               "accuracy": {"teacher": sum(teacher_correct) / n, "student": 0.85, "baseline": 0.8},
               "ci": {"teacher": [0.5, 0.6], "student": [0.8, 0.9], "baseline": None},
               "correct": {"teacher": teacher_correct, "student": student, "baseline": None}}
        return {"rows": [row], "teacher": {"langs": langs, "n_train": 900, "steps": 120,
                                           "wall_seconds": {"teacher": 300.0}, "reused": []}}

    text = compare_teachers(result(own_teacher, None, n_seeds=2), result(pooled_teacher, ["fr"]))
    line = next(x for x in text.splitlines() if x.startswith("| nl |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1:3] == ["90.0 [50.0, 60.0]", "80.0 [50.0, 60.0]†"]  # nl was not among the pooled teacher's languages
    assert cells[4:6] == ["85.0 [80.0, 90.0]", "85.0 [80.0, 90.0]"]  # every accuracy with its interval
    assert cells[3].startswith("-10.0 [") and "no measurable" not in cells[3]
    assert cells[6] == "+0.0 [+0.0, +0.0] (no measurable difference)"
    assert cells[7:] == ["2.0 min", "2.0 min", "2 / 1"]
    assert "own teachers 2.0 min, pooled teacher 7.0 min" in text
    # another test set: no paired difference is claimed
    text = compare_teachers(result(own_teacher, None), result(pooled_teacher, ["fr"], test_sha="other"))
    assert "| nl | 90.0 [50.0, 60.0] | 80.0 [50.0, 60.0]† | - |" in text


def test_a_one_seed_run_is_compared_with_a_three_seed_run_on_the_same_reviews():
    from scripts.evaluation.measure import paired_difference, resample_indices

    n = 200
    three_seeds = [[1] * 180 + [0] * 20] * 3  # 90% on every seed
    one_seed = [1] * 160 + [0] * 40  # 80%: wrong on 20 more of the same reviews
    for a, b, sign in ((one_seed, three_seeds, -1), (three_seeds, one_seed, 1)):
        d = paired_difference(a, b, resample_indices(n))
        assert round(d["difference"], 6) == sign * 0.1 and d["excludes_zero"]
        assert len(d["mcnemar_p"]) == 3 and all(p < 0.001 for p in d["mcnemar_p"])
        assert [round(x, 6) for x in d["per_seed"]] == [sign * 0.1] * 3
    d = paired_difference([one_seed] * 2, three_seeds, resample_indices(n))  # 2 against 3: seeds paired
    assert len(d["mcnemar_p"]) == 2 and round(d["difference"], 6) == -0.1
