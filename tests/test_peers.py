"""The `peers` workflow: TF-IDF + LR, fastText and Model2Vec + LR beside the student, on the
finished tiny run, each trained on gold labels and on the transfer set."""
import json
import os
import subprocess
import sys

import numpy
import pytest
import spacy
from spacy.tokens import DocBin

from conftest import run_script
from workflow_support import TINY_SETTINGS, TINY_TRAINING, TINY_VARS, write_study

PEERS = ("tfidf_lr", "fasttext", "model2vec_lr")


@pytest.fixture(scope="module")
def peers_run(project_run, tiny_backbone):
    project, _ = project_run
    write_study(project, {"seeds": {"n_seeds": 2}})
    overrides = [f"--vars.{k}={v}" for k, v in {**TINY_VARS, "teacher_backbone": tiny_backbone}.items()]
    result = subprocess.run([sys.executable, "-m", "spacy", "project", "run", "peers", str(project), *overrides],
                            capture_output=True, text=True, cwd=project,
                            env={**os.environ, "SPACY_CONFIG_OVERRIDES": TINY_TRAINING})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project, json.loads((project / "training/nl/peers.json").read_text())


def test_peers_scores_three_peers_gold_and_distilled_beside_the_student(peers_run):
    project, r = peers_run
    assert sorted(r["peers"]) == sorted(f"{p}/{route}" for p in PEERS for route in ("gold", "distilled"))
    n_train = len(DocBin().from_disk(project / "corpus/nl/train.spacy"))
    n_transfer = len(DocBin().from_disk(project / "corpus/nl/synthetic.spacy")) + n_train
    for name, row in r["peers"].items():
        assert row["ci"][0] <= row["accuracy"] <= row["ci"][1], name
        assert row["vs_student"]["ci"][0] <= row["vs_student"]["difference"] <= row["vs_student"]["ci"][1], name
        assert row["raw_docs_per_sec"] > 0 and row["size_mb"] > 0 and row["train_seconds"] > 0, name
        assert len(row["speed_rounds"]) == TINY_SETTINGS["evaluate"]["rounds"], name
        assert row["training_examples"] == (n_train if row["route"] == "gold" else n_transfer), name
        assert row["n_seeds"] == (2 if row["peer"] == "fasttext" else 1), name
        if row["route"] == "distilled":  # what distillation did for this kind of model, paired
            assert row["vs_gold"]["ci"][0] <= row["vs_gold"]["difference"] <= row["vs_gold"]["ci"][1], name
    # the student and the baseline timed in the same rounds
    assert r["models"]["student"]["raw_docs_per_sec"] > 0 and r["models"]["baseline"]["raw_docs_per_sec"] > 0
    table = (project / "training/nl/peers.md").read_text()
    for title in ("TF-IDF + logistic regression", "fastText", "Model2Vec + logistic regression"):
        assert table.count(f"| {title} |") == 2, title
    assert (project / "training/nl/peers.png").stat().st_size > 0


def test_the_saved_peers_are_the_ones_scored(peers_run):
    """A user takes a peer from training/{run}/peers/: it gives the accuracy in the table."""
    import fasttext
    import joblib
    from model2vec import StaticModel

    from scripts.peers.classifiers import fasttext_line

    project, r = peers_run
    docs = list(DocBin().from_disk(project / "corpus/nl/test.spacy").get_docs(spacy.blank("nl").vocab))
    texts = [d.text for d in docs]
    labels = r["labels"]
    gold = numpy.array([labels.index(max(d.cats, key=d.cats.get)) for d in docs])
    folder = project / "training/nl/peers"
    tfidf = joblib.load(folder / "tfidf_lr/gold/tfidf_lr.joblib")
    predicted = tfidf["model"].predict(tfidf["vectorizer"].transform(texts))
    assert (predicted == gold).mean() == pytest.approx(r["peers"]["tfidf_lr/gold"]["accuracy"])
    m2v = joblib.load(folder / "model2vec_lr/distilled/logistic.joblib")
    static = StaticModel.from_pretrained(str(folder / "model2vec_lr/distilled/static_model"))
    assert (m2v.predict(static.encode(texts)) == gold).mean() == \
        pytest.approx(r["peers"]["model2vec_lr/distilled"]["accuracy"])
    ft = fasttext.load_model(str(folder / "fasttext/gold/fasttext.bin"))
    first_seed = [int(ft.f.predict(fasttext_line(t) + "\n", 1, 0.0, "strict")[0][1][len("__label__"):]) for t in texts]
    assert (numpy.array(first_seed) == gold).mean() == pytest.approx(numpy.mean(r["correct"]["fasttext/gold"][0]))


def test_soft_targets_become_weighted_rows_and_gold_ones_stay_single():
    from scripts.peers.classifiers import weighted_rows

    rows, classes, weights = weighted_rows(numpy.array([[0.2, 0.8], [1.0, 0.0]]))
    assert list(zip(rows, classes)) == [(0, 0), (0, 1), (1, 0)]
    assert list(weights) == pytest.approx([0.2, 0.8, 1.0])


def test_peers_before_evaluate_say_what_to_run(tmp_path):
    result = run_script("compare_peers.py", "nl", cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "metrics" in lines[0] and "spacy project run evaluate" in lines[0], result.stderr


def test_the_static_model_is_kept_only_while_its_backbone_and_settings_are_the_same(tiny_backbone, tmp_path):
    from scripts.peers.classifiers import distill_static_model

    record = tmp_path / "static" / "distilled.json"
    distill_static_model(tiny_backbone, tmp_path / "static", 16, "float16")
    first = json.loads(record.read_text())
    distill_static_model(tiny_backbone, tmp_path / "static", 16, "float16")
    assert json.loads(record.read_text()) == first  # kept, not distilled again
    distill_static_model(tiny_backbone, tmp_path / "static", 8, "float16")
    again = json.loads(record.read_text())
    assert again["signature"] != first["signature"] and again["dims"] == 8
