"""`spacy project run all` on three classes (POS, NEG, NONE), end to end on fixture data.

Every step that read P(POS) now reads the k class probabilities: the corpus keeps the
label set of the data, the teacher's linear probe is multinomial, labels, vectors (one
direction per class difference), calibration and evaluation cover all three, and the
report gives macro F with its interval and the F of each class.
"""
import json

import pytest
import spacy
from spacy.tokens import DocBin

from fixtures import fixture_reviews
from workflow_support import make_project, run_all

LABELS = ["NEG", "NONE", "POS"]  # sorted: a label set other than POS/NEG keeps no special order


@pytest.fixture(scope="module")
def three_class_run(tmp_path_factory, tiny_backbone):
    project = tmp_path_factory.mktemp("project")
    make_project(project)
    reviews = project / "assets" / "reviews" / "three.jsonl"
    reviews.parent.mkdir(parents=True, exist_ok=True)
    reviews.write_text("".join(json.dumps({"text": t, "label": l}) + "\n"
                               for t, l in fixture_reviews(30, seed=4, three_classes=True)))
    result = run_all(project, tiny_backbone, reviews="assets/reviews/three.jsonl", run="three")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return project


def test_every_step_carries_three_classes(three_class_run):
    project = three_class_run
    stats = json.loads((project / "corpus/three/stats.json").read_text())
    assert stats["labels"] == LABELS
    assert [stats["splits"]["train"][label] for label in LABELS] == [13, 13, 13]  # n_train 40: 13 per class
    vocab = spacy.blank("nl").vocab
    synthetic = list(DocBin().from_disk(project / "corpus/three/synthetic.spacy").get_docs(vocab))
    assert synthetic and all(sorted(d.cats) == LABELS and sum(d.cats.values()) == pytest.approx(1.0, abs=1e-5)
                             for d in synthetic)
    for name in ("teacher", "student"):
        model = spacy.load(project / f"training/three/{name}/model-last")
        assert sorted(model.get_pipe("textcat").labels) == LABELS
    info = json.loads((project / "training/three/vectors/vectors_info.json").read_text())
    assert info["dims"] == 8  # two class directions and six PCA components (vectors_dims 8)


def test_metrics_and_report_give_macro_f_with_intervals_and_each_class(three_class_run):
    project = three_class_run
    metrics = json.loads((project / "training/three/metrics.json").read_text())
    assert metrics["labels"] == LABELS
    for name in ("baseline", "teacher", "student"):
        model = metrics["models"][name]
        assert set(model["f_per_class"]) == set(LABELS)
        assert model["macro_f"] == pytest.approx(sum(model["f_per_class"].values()) / 3)
        low, high = model["macro_f_ci"]
        assert low <= high and 0.0 <= low and high <= 1.0
    calibration = metrics["models"]["teacher"]["calibration"]
    assert sum(calibration["confidence_histogram"]) == metrics["n_test"] and "p_pos_histogram" not in calibration
    assert metrics["extra_tests"]["other_shop"]["n"] > 0  # a POS/NEG file scores against three classes
    report = (project / "training/three/report.md").read_text()
    assert "| F per class | NEG | NONE | POS |" in report
    assert "top class's probability" in report
