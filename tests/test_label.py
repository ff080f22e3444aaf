"""Labelling by the teacher: float cats, and a resumed run loses and duplicates nothing."""
import signal
import subprocess
import sys
import time

import pytest
import spacy
from spacy.tokens import DocBin

from conftest import ROOT, run_script
from fixtures import fixture_reviews


@pytest.fixture
def docs_to_label(tmp_path):
    nlp = spacy.blank("nl")
    db = DocBin(store_user_data=True)
    texts = [t for t, _ in fixture_reviews(150)]
    for i, doc in enumerate(nlp.pipe(texts)):
        doc.user_data["augment_methods"] = ["mask"] if i % 2 else ["ngram"]
        db.add(doc)
    path = tmp_path / "augmented.spacy"
    db.to_disk(path)
    return path, texts


def read(path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("nl").vocab))


def test_labels_are_teacher_probabilities(tiny_teacher, docs_to_label, tmp_path):
    path, texts = docs_to_label
    out = tmp_path / "synthetic.spacy"
    result = run_script("label_with_teacher.py", tiny_teacher, path, out, "--chunk-size", 100)
    assert result.returncode == 0, result.stderr[-2000:]
    docs = read(out)
    assert [d.text for d in docs] == texts
    teacher = spacy.load(tiny_teacher)
    for doc in docs[:40]:  # each doc carries the teacher's own probabilities for that very text
        expected = teacher(doc.text).cats
        assert doc.cats["POS"] == pytest.approx(expected["POS"], abs=1e-4), doc.text
        assert doc.cats["POS"] + doc.cats["NEG"] == pytest.approx(1.0, abs=1e-6)
    assert len({round(d.cats["POS"], 4) for d in docs}) > 1
    assert list(docs[1].user_data["augment_methods"]) == ["mask"]
    assert not (tmp_path / "synthetic.chunks").exists()


def test_interrupted_run_resumes_without_losing_or_duplicating(tiny_teacher, docs_to_label, tmp_path):
    path, texts = docs_to_label
    out, chunks = tmp_path / "synthetic.spacy", tmp_path / "synthetic.chunks"
    cmd = [sys.executable, "-m", "scripts.transfer.label_with_teacher", str(tiny_teacher), str(path), str(out),
           "--chunk-size", "3", "--batch-size", "3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.time() + 120
    while len(list(chunks.glob("chunk-*.spacy"))) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_done = len(list(chunks.glob("chunk-*.spacy")))
    assert not out.exists() and 3 <= n_done < 100, "the run should be cut off part-way"
    result = run_script("label_with_teacher.py", tiny_teacher, path, out, "--chunk-size", 3, "--batch-size", 3)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Resuming: {n_done} of 100 chunks" in result.stdout
    docs = read(out)
    assert [d.text for d in docs] == texts  # each input once, in input order
    assert all(abs(sum(d.cats.values()) - 1.0) < 1e-6 for d in docs)


def test_chunks_of_another_teacher_are_discarded_not_reused(tiny_teacher, docs_to_label, tmp_path):
    import json
    import shutil

    path, texts = docs_to_label
    out, chunks = tmp_path / "synthetic.spacy", tmp_path / "synthetic.chunks"
    first = run_script("label_with_teacher.py", tiny_teacher, path, out, "--chunk-size", 50)
    assert first.returncode == 0, first.stderr[-2000:]
    # Chunks left by an interrupted run of an earlier teacher (other weights), then retrained.
    old_teacher = tmp_path / "old_teacher"
    shutil.copytree(tiny_teacher, old_teacher)
    weights = next(p for p in (old_teacher / "transformer").rglob("*") if p.is_file())
    weights.write_bytes(weights.read_bytes() + b"\0")
    chunks.mkdir()
    stale = DocBin(store_user_data=True)
    for i, doc in enumerate(read(out)[:50]):
        doc.cats = {"POS": 0.123, "NEG": 0.877}
        doc.user_data["input_index"] = i
        stale.add(doc)
    stale.to_disk(chunks / "chunk-00000.spacy")
    from scripts.transfer.label_with_teacher import folder_fingerprint
    from scripts.shared.cli_support import sha256_of

    (chunks / "manifest.json").write_text(json.dumps({
        "teacher": folder_fingerprint(old_teacher), "input": sha256_of(path), "n_docs": len(texts),
        "chunk_size": 50, "batch_size": 64}))
    out.unlink()
    result = run_script("label_with_teacher.py", tiny_teacher, path, out, "--chunk-size", 50)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "another teacher" in result.stdout + result.stderr
    assert all(d.cats["POS"] != 0.123 for d in read(out))


def test_temperature_softens_the_teachers_probabilities_without_changing_its_choice(tiny_teacher, docs_to_label,
                                                                                    tmp_path):
    import json
    import math

    path, _ = docs_to_label
    outs = {}
    for value in ("1.0", "fitted"):
        (tmp_path / "t.json").write_text(json.dumps({"temperature": 3.0}))
        out = tmp_path / f"labels-{value}.spacy"
        result = run_script("label_with_teacher.py", tiny_teacher, path, out, "--temperature", value,
                            "--temperature-file", tmp_path / "t.json")
        assert result.returncode == 0, result.stderr[-2000:]
        outs[value] = read(out)
    for raw, soft in zip(outs["1.0"], outs["fitted"]):
        logit = math.log(raw.cats["POS"] / raw.cats["NEG"])
        assert soft.cats["POS"] == pytest.approx(1 / (1 + math.exp(-logit / 3.0)), abs=1e-5)
        assert (raw.cats["POS"] > 0.5) == (soft.cats["POS"] > 0.5)


def test_a_temperature_that_is_not_a_positive_number(tiny_teacher, docs_to_label, tmp_path):
    path, _ = docs_to_label
    result = run_script("label_with_teacher.py", tiny_teacher, path, tmp_path / "o.spacy", "--temperature", "-2")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "temperature '-2': give a number above 0" in result.stderr
