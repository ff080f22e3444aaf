"""The teacher's bf16 runtime, the quality gate that chooses it, and labelling in chunks."""
import json

import numpy
import pytest
import spacy
from spacy.tokens import DocBin

from conftest import run_script
from fixtures import fixture_reviews


@pytest.fixture(scope="module")
def synthetic_docs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runtime_docs")
    nlp = spacy.blank("nl")
    texts = [t for t, _ in fixture_reviews(60, seed=3)]
    DocBin(docs=list(nlp.pipe(texts))).to_disk(folder / "augmented.spacy")
    return folder / "augmented.spacy", texts


def read(path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("nl").vocab))


def test_bf16_autocast_gives_float32_probabilities_close_to_fp32(tiny_teacher, synthetic_docs, monkeypatch):
    from scripts.teacher import teacher_runtime
    from scripts.teacher.teacher_runtime import load_teacher, predict_probs

    _, texts = synthetic_docs
    monkeypatch.setattr(teacher_runtime, "cpu_flags", lambda: {"avx512_bf16"})
    _, p32 = predict_probs(load_teacher(tiny_teacher, "fp32"), texts[:30], batch_size=16)
    _, p16 = predict_probs(load_teacher(tiny_teacher, "bf16"), texts[:30], batch_size=16)
    assert p16.dtype == numpy.float64 and numpy.allclose(p16.sum(1), 1.0, atol=1e-5)
    assert numpy.abs(p16 - p32).max() < 0.05


def test_bf16_is_not_offered_on_a_cpu_without_bf16_instructions(monkeypatch):
    from scripts.teacher import teacher_runtime

    monkeypatch.setattr(teacher_runtime, "cpu_flags", lambda: {"avx2", "fma"})
    assert "no bf16 instructions" in teacher_runtime.unsupported_reason("bf16")
    monkeypatch.setattr(teacher_runtime, "cpu_flags", lambda: {"avx2", "amx_bf16"})
    assert teacher_runtime.unsupported_reason("bf16") is None
    with pytest.raises(ValueError, match="unknown teacher runtime"):
        teacher_runtime.unsupported_reason("fp8")


def test_agreement_figures():
    from scripts.teacher.teacher_runtime import agreement_figures

    reference = numpy.array([[0.9, 0.1], [0.4, 0.6], [0.52, 0.48], [0.2, 0.8]])
    candidate = numpy.array([[0.8, 0.2], [0.4, 0.6], [0.48, 0.52], [0.2, 0.8]])
    figures = agreement_figures(reference, candidate)
    assert figures["agreement"] == 0.75
    assert figures["mean_abs_dp"] == pytest.approx((0.1 * 2 + 0.04 * 2) / 8)
    assert figures["max_abs_dp"] == pytest.approx(0.1)


def choose(tiny_teacher, tiny_corpus, augmented, out, runtime, **gate):
    """choose_runtime's main in this process, so the CPU it sees can be set."""
    from scripts.teacher.choose_runtime import main

    settings = {"sample_docs": 40, "batch_size": 16, "min_agreement": 0.995, "max_dev_drop": 0.003, "seed": 0,
                **gate}
    main(tiny_teacher, tiny_corpus / "dev.spacy", augmented, out, runtime=runtime, **settings)
    return json.loads(out.read_text())


def fake_speeds(monkeypatch, speeds):
    """The gate as it runs on a CPU with bf16 instructions, but each runtime timed at a set
    docs/s, so which one is faster is known."""
    from scripts.teacher import choose_runtime, teacher_runtime

    real_load, real_timed = choose_runtime.load_teacher, choose_runtime.timed_probs
    monkeypatch.setattr(teacher_runtime, "cpu_flags", lambda: {"avx2", "avx512_bf16"})

    def load(path, name):
        nlp = real_load(path, name)
        nlp.meta["gate_runtime"] = name
        return nlp

    def timed(nlp, texts, batch_size):
        labels, probs, _ = real_timed(nlp, texts, batch_size)
        return labels, probs, speeds[nlp.meta["gate_runtime"]]

    monkeypatch.setattr(choose_runtime, "load_teacher", load)
    monkeypatch.setattr(choose_runtime, "timed_probs", timed)


def test_gate_falls_back_to_fp32_and_says_why(tiny_teacher, tiny_corpus, synthetic_docs, tmp_path, monkeypatch,
                                              capsys):
    fake_speeds(monkeypatch, {"fp32": 10.0, "bf16": 30.0})
    choice = choose(tiny_teacher, tiny_corpus, synthetic_docs[0], tmp_path / "runtime.json", "bf16",
                    min_agreement=1.01)
    assert choice["chosen"] == "fp32" and choice["requested"] == "bf16"
    bf16 = choice["runtimes"]["bf16"]
    assert bf16["passed"] is False and "agreement with fp32" in bf16["why"][0]
    assert 0.0 <= bf16["synthetic"]["agreement"] <= 1.0 and bf16["dev"]["mean_abs_dp"] >= 0
    out = capsys.readouterr().out
    assert "fails the quality gate" in out and "falling back to fp32" in out


def test_a_runtime_named_by_hand_is_used_when_it_passes_however_slow(tiny_teacher, tiny_corpus, synthetic_docs,
                                                                      tmp_path, monkeypatch):
    """The labels of a run never hang on a timing: bf16 named in label.cfg labels whenever it
    passes the gate, even where fp32 measured faster on this run."""
    for speeds in ({"fp32": 60.0, "bf16": 30.0}, {"fp32": 10.0, "bf16": 30.0}):
        fake_speeds(monkeypatch, speeds)
        choice = choose(tiny_teacher, tiny_corpus, synthetic_docs[0], tmp_path / "runtime.json", "bf16",
                        min_agreement=0.0, max_dev_drop=1.0)
        assert choice["chosen"] == "bf16" and choice["runtimes"]["bf16"]["passed"]


def test_auto_takes_bf16_only_where_it_is_faster_and_passes(tiny_teacher, tiny_corpus, synthetic_docs, tmp_path,
                                                           monkeypatch):
    from scripts.teacher.teacher_runtime import dev_probs_path, gated_dev_probs
    from scripts.shared.fingerprint import contents_fingerprint

    made_from = contents_fingerprint(tiny_teacher, tiny_corpus / "dev.spacy")
    fake_speeds(monkeypatch, {"fp32": 10.0, "bf16": 30.0})
    choice = choose(tiny_teacher, tiny_corpus, synthetic_docs[0], tmp_path / "a.json", "auto",
                    min_agreement=0.0, max_dev_drop=1.0)
    assert choice["chosen"] == "bf16" and choice["runtimes"]["bf16"]["passed"]
    assert choice["runtimes"]["bf16"]["speedup_vs_fp32"] == 3.0 and "dev" in choice["runtimes"]["bf16"]
    # the chosen runtime's dev probabilities are kept for calibration, for this teacher and dev set only
    labels, probs = gated_dev_probs(tmp_path / "a.json", "bf16", made_from)
    assert probs.shape == (len(read(tiny_corpus / "dev.spacy")), len(labels))
    assert gated_dev_probs(tmp_path / "a.json", "bf16", contents_fingerprint(tiny_teacher, synthetic_docs[0])) is None
    assert gated_dev_probs(tmp_path / "a.json", "bf16", contents_fingerprint(tiny_corpus, tiny_corpus / "dev.spacy")) \
        is None  # another teacher
    assert gated_dev_probs(tmp_path / "a.json", "fp32", made_from) is None
    # it fails on the sample: not gated on dev, and fp32 labels
    fake_speeds(monkeypatch, {"fp32": 10.0, "bf16": 30.0})
    strict = choose(tiny_teacher, tiny_corpus, synthetic_docs[0], tmp_path / "b.json", "auto",
                    min_agreement=1.01, max_dev_drop=1.0)
    assert strict["chosen"] == "fp32"
    entry = strict["runtimes"]["bf16"]
    assert "dev" not in entry and "agreement with fp32 on synthetic" in entry["why"][0]
    assert entry["why"][-1] == "not gated on dev"
    assert gated_dev_probs(tmp_path / "b.json", "fp32", made_from) is not None
    # no faster than fp32: not gated on dev, and fp32 labels
    fake_speeds(monkeypatch, {"fp32": 60.0, "bf16": 30.0})
    slow = choose(tiny_teacher, tiny_corpus, synthetic_docs[0], tmp_path / "c.json", "auto",
                  min_agreement=0.0, max_dev_drop=1.0)
    assert slow["chosen"] == "fp32" and slow["runtimes"]["fp32"]["dev_accuracy"] >= 0
    assert "dev" not in slow["runtimes"]["bf16"] and "no faster than fp32" in slow["runtimes"]["bf16"]["why"][0]
    # a file kept from an earlier choice never outlives a new one
    assert dev_probs_path(tmp_path / "c.json").exists()


def test_auto_on_a_cpu_without_bf16_runs_no_gate(tiny_teacher, tiny_corpus, synthetic_docs, tmp_path, monkeypatch):
    from scripts.teacher import teacher_runtime

    monkeypatch.setattr(teacher_runtime, "cpu_flags", lambda: {"avx2", "fma"})
    for runtime in ("auto", "bf16"):
        choice = choose(tiny_teacher, tiny_corpus, synthetic_docs[0], tmp_path / f"{runtime}.json", runtime)
        assert choice["chosen"] == "fp32" and "docs_per_sec" not in choice["runtimes"]["fp32"]
        assert "no bf16 instructions" in choice["runtimes"]["bf16"]["why"][0]


def test_an_unknown_runtime_is_one_clear_line(tiny_teacher, tiny_corpus, synthetic_docs, tmp_path):
    augmented, _ = synthetic_docs
    result = run_script("choose_runtime.py", tiny_teacher, tiny_corpus / "dev.spacy", augmented,
                        tmp_path / "r.json", "--runtime", "fp8")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "teacher runtime 'fp8': choose one of fp32, bf16 or auto" in result.stderr


def test_calibration_reads_the_gates_dev_probabilities(tiny_teacher, tiny_corpus, synthetic_docs, tmp_path,
                                                        monkeypatch):
    """The temperature is the same whether calibration runs the teacher over dev or reads
    what the gate measured there."""
    choose(tiny_teacher, tiny_corpus, synthetic_docs[0], tmp_path / "runtime.json", "fp32")
    from scripts.teacher.teacher_runtime import dev_probs_path, save_dev_probs, predict_probs, load_teacher
    from scripts.shared.fingerprint import contents_fingerprint

    dev = tiny_corpus / "dev.spacy"
    labels, probs = predict_probs(load_teacher(tiny_teacher), [d.text for d in read(dev)], 16)
    save_dev_probs(dev_probs_path(tmp_path / "runtime.json"), probs, labels, "fp32", contents_fingerprint(tiny_teacher, dev))
    fresh = run_script("calibrate_teacher.py", tiny_teacher, dev, tmp_path / "fresh.json")
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    result = run_script("calibrate_teacher.py", tiny_teacher, dev, tmp_path / "gated.json",
                        "--runtime-file", tmp_path / "runtime.json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "from the runtime gate" in " ".join(result.stdout.split())
    fitted = [json.loads((tmp_path / f"{name}.json").read_text())["temperature"] for name in ("fresh", "gated")]
    assert fitted[1] == pytest.approx(fitted[0], rel=1e-3)


def test_a_text_file_is_labelled_in_chunks_like_docs_and_resumes_after_an_interrupt(tiny_teacher, synthetic_docs,
                                                                                      tmp_path):
    augmented, texts = synthetic_docs
    lines = tmp_path / "unlabelled.txt"
    lines.write_text("".join(t + "\n" for t in texts) + "\n")  # a blank line is skipped
    folder = tmp_path / "unlabelled_teacher"
    args = ["--chunk-size", 25, "--batch-size", 8]
    result = run_script("label_with_teacher.py", tiny_teacher, lines, folder, *args)
    assert result.returncode == 0, result.stderr[-2000:]
    chunks = sorted(folder.glob("chunk-*.spacy"))
    assert len(chunks) == -(-len(texts) // 25)
    first = [d for chunk in chunks for d in read(chunk)]
    assert [d.text for d in first] == texts
    assert json.loads((folder / "labelling.json").read_text())["n_docs"] == len(texts)
    # the same teacher labels the same texts alike, from a .spacy file or a text file
    result = run_script("label_with_teacher.py", tiny_teacher, augmented, tmp_path / "labels.spacy", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    for from_docs, from_lines in zip(read(tmp_path / "labels.spacy"), first):
        assert from_lines.cats["POS"] == pytest.approx(from_docs.cats["POS"], abs=1e-5)
    # interrupted: one chunk lost (and a half-written one left), the others kept as they are
    stamp = chunks[0].stat().st_mtime_ns
    chunks[1].unlink()
    (folder / "chunk-00001.tmp").write_bytes(b"half")
    again = run_script("label_with_teacher.py", tiny_teacher, lines, folder, *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"Resumed: {len(chunks) - 1} chunks were already labelled" in again.stdout
    assert chunks[0].stat().st_mtime_ns == stamp
    assert [d.text for chunk in sorted(folder.glob("chunk-*.spacy")) for d in read(chunk)] == texts


def test_labelling_uses_the_runtime_the_gate_chose(tiny_teacher, synthetic_docs, tmp_path):
    from scripts.teacher.teacher_runtime import unsupported_reason

    augmented, _ = synthetic_docs
    (tmp_path / "runtime.json").write_text(json.dumps({"chosen": "bf16"}))
    out = tmp_path / "labels.spacy"
    result = run_script("label_with_teacher.py", tiny_teacher, augmented, out,
                        "--runtime-file", tmp_path / "runtime.json")
    if unsupported_reason("bf16") is None:
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads((tmp_path / "labels.labelling.json").read_text())["runtime"] == "bf16"
        assert "with the bf16 teacher" in result.stdout
    else:  # a choice made on another machine: one line that says to choose again here
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert "rerun `spacy project run teacher-runtime`" in result.stderr


def test_a_folder_the_labeller_did_not_make_is_never_deleted(tiny_teacher, synthetic_docs, tmp_path):
    augmented, _ = synthetic_docs
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "important.txt").write_text("notes")
    result = run_script("label_with_teacher.py", tiny_teacher, augmented, tmp_path / "o.spacy",
                        "--chunk-dir", victim)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "holds files the labeller did not write" in result.stderr
    assert (victim / "important.txt").read_text() == "notes"


def test_stale_chunks_are_replaced_but_other_files_in_the_folder_are_kept(tiny_teacher, synthetic_docs, tmp_path):
    augmented, texts = synthetic_docs
    chunks = tmp_path / "chunks"
    chunks.mkdir()
    (chunks / "manifest.json").write_text(json.dumps({"teacher": "another"}))
    stale = DocBin(store_user_data=True)
    for i, doc in enumerate(read(augmented)[:25]):
        doc.cats = {"POS": 0.123, "NEG": 0.877}
        doc.user_data["input_index"] = i
        stale.add(doc)
    stale.to_disk(chunks / "chunk-00000.spacy")
    (chunks / "notes.txt").write_text("mine")
    out = tmp_path / "o.spacy"
    result = run_script("label_with_teacher.py", tiny_teacher, augmented, out, "--chunk-dir", chunks,
                        "--chunk-size", 25)
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(d.cats["POS"] != 0.123 for d in read(out)) and len(read(out)) == len(texts)
    assert (chunks / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in chunks.iterdir()) == ["notes.txt"]  # only the labeller's files went


def test_fitted_temperature_without_its_file_is_one_clear_line(tiny_teacher, synthetic_docs, tmp_path):
    augmented, _ = synthetic_docs
    result = run_script("label_with_teacher.py", tiny_teacher, augmented, tmp_path / "o.spacy",
                        "--temperature", "fitted")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "temperature 'fitted' needs --temperature-file" in result.stderr


def test_bench_labelling_puts_every_runtime_side_by_side(tiny_teacher, synthetic_docs, tmp_path):
    augmented, _ = synthetic_docs
    out = tmp_path / "bench.json"
    result = run_script("bench_labelling.py", tiny_teacher, augmented, out, "--n-docs", 40, "--batch-size", 8,
                        "--runtimes", "fp32")
    assert result.returncode == 0, result.stderr[-2000:]
    bench = json.loads(out.read_text())
    assert set(bench["configurations"]) == {"fp32"} and bench["n_docs"] == 40
    assert bench["configurations"]["fp32"]["speedup_vs_fp32_pipeline"] == 1.0
    assert bench["configurations"]["fp32"]["agreement"] == 1.0
    assert bench["bare_forward_fp32"]["docs_per_sec"] > 0 and bench["bare_forward_fp32"]["model_calls"] >= 5
    assert bench["ratio_pipeline_to_bare"] > 0
    unknown = run_script("bench_labelling.py", tiny_teacher, augmented, out, "--runtimes", "int8")
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr
    assert "runtimes 'int8': choose from fp32, bf16" in unknown.stderr
