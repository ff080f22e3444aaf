"""The teacher's fast runtimes, the quality gate that chooses one, and parallel labelling."""
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


def test_int8_smooths_and_quantizes_all_but_the_down_projections(tiny_teacher, synthetic_docs, tmp_path):
    import torch

    from scripts.teacher.teacher_runtime import load_teacher, predict_probs, save_scales, smoothing_scales, transformer_shims

    _, texts = synthetic_docs
    fp32 = load_teacher(tiny_teacher, "fp32")
    scales = smoothing_scales(fp32, texts[:20], batch_size=8)
    assert scales and all((s > 0).all() for s in scales.values())
    save_scales(scales, tmp_path / "scales.npz")
    int8 = load_teacher(tiny_teacher, "int8", tmp_path / "scales.npz")
    model = transformer_shims(int8)[0]._model
    linear = [m for m in model.modules() if type(m) is torch.nn.Linear]
    quantized = [m for m in model.modules() if type(m).__module__.startswith("torch.ao.nn.quantized.dynamic")
                 and type(m).__name__ == "Linear"]
    # the tiny BERT's feed-forward down-projections (64 -> 32) stay fp32, the rest runs in int8
    assert linear and all(m.in_features > m.out_features for m in linear)
    assert len(quantized) == len(scales)
    with pytest.raises(ValueError, match="smoothing scales"):
        load_teacher(tiny_teacher, "int8")
    labels, p32 = predict_probs(fp32, texts, batch_size=16)
    labels8, p8 = predict_probs(int8, texts, batch_size=16)
    assert labels == labels8 and p8.shape == p32.shape
    assert numpy.allclose(p8.sum(1), 1.0, atol=1e-5)
    assert 0 < numpy.abs(p8 - p32).mean() < 0.02  # int8 changes the numbers a little, not the teacher


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


def test_gate_falls_back_to_fp32_and_says_why(tiny_teacher, tiny_corpus, synthetic_docs, tmp_path):
    augmented, _ = synthetic_docs
    out = tmp_path / "runtime.json"
    result = run_script("choose_runtime.py", tiny_teacher, tiny_corpus / "dev.spacy", augmented, out,
                        "--runtime", "int8", "--min-agreement", "1.01", "--sample-docs", 40)
    assert result.returncode == 0, result.stderr[-2000:]
    choice = json.loads(out.read_text())
    assert choice["chosen"] == "fp32" and choice["requested"] == "int8"
    int8 = choice["runtimes"]["int8"]
    assert int8["passed"] is False and "agreement with fp32" in int8["why"][0]
    assert 0.0 <= int8["synthetic"]["agreement"] <= 1.0 and int8["dev"]["mean_abs_dp"] >= 0
    assert choice["int8_scales"] == "runtime.int8.npz" and (tmp_path / "runtime.int8.npz").exists()
    assert "fails the quality gate" in result.stdout + result.stderr
    assert "falling back to fp32" in result.stdout + result.stderr


def choose(tiny_teacher, tiny_corpus, augmented, out, runtime, **gate):
    """choose_runtime's main in this process, so the CPU it sees can be set."""
    from scripts.teacher.choose_runtime import main

    settings = {"sample_docs": 40, "calibration_docs": 20, "batch_size": 16, "min_agreement": 0.995,
                "max_dev_drop": 0.003, "seed": 0, **gate}
    main(tiny_teacher, tiny_corpus / "dev.spacy", augmented, out, runtime=runtime, **settings)
    return json.loads(out.read_text())


def test_auto_takes_the_fastest_runtime_that_passes(tiny_teacher, tiny_corpus, synthetic_docs, tmp_path,
                                                   monkeypatch):
    from scripts.teacher import teacher_runtime

    monkeypatch.setattr(teacher_runtime, "cpu_flags", lambda: {"avx2", "avx512_vnni"})
    # a gate every runtime passes: the choice is then the fastest one measured
    choice = choose(tiny_teacher, tiny_corpus, synthetic_docs[0], tmp_path / "runtime.json", "auto",
                    min_agreement=0.0, max_dev_drop=1.0)
    measured = {name: r["docs_per_sec"] for name, r in choice["runtimes"].items() if "docs_per_sec" in r}
    assert set(measured) == {"fp32", "int8"}  # bf16: no bf16 instructions on this (pretended) CPU
    assert choice["chosen"] == max(measured, key=measured.get)
    assert choice["runtimes"][choice["chosen"]]["passed"]


def fake_speeds(monkeypatch, speeds):
    """The gate as it runs, but each runtime timed at a set docs/s, so its order is known."""
    from scripts.teacher import choose_runtime, teacher_runtime

    real_load, real_timed = choose_runtime.load_teacher, choose_runtime.timed_probs
    monkeypatch.setattr(teacher_runtime, "cpu_flags", lambda: {"avx2", "avx512_vnni", "avx512_bf16"})

    def load(path, name, scales=None):
        nlp = real_load(path, name, scales)
        nlp.meta["gate_runtime"] = name
        return nlp

    def timed(nlp, texts, batch_size):
        labels, probs, _ = real_timed(nlp, texts, batch_size)
        return labels, probs, speeds[nlp.meta["gate_runtime"]]

    monkeypatch.setattr(choose_runtime, "load_teacher", load)
    monkeypatch.setattr(choose_runtime, "timed_probs", timed)


def test_auto_gates_on_dev_only_the_fastest_runtime_that_can_win(tiny_teacher, tiny_corpus, synthetic_docs, tmp_path,
                                                                 monkeypatch):
    fake_speeds(monkeypatch, {"fp32": 10.0, "bf16": 30.0, "int8": 50.0})
    choice = choose(tiny_teacher, tiny_corpus, synthetic_docs[0], tmp_path / "a.json", "auto",
                    min_agreement=0.0, max_dev_drop=1.0)
    assert choice["chosen"] == "int8" and "dev" in choice["runtimes"]["int8"]
    bf16 = choice["runtimes"]["bf16"]  # slower than the winner: its dev pass would change nothing
    assert "dev" not in bf16 and "synthetic" in bf16 and bf16["passed"] is False
    assert bf16["why"] == ["not gated on dev: int8, faster, passed"]
    # the fastest fails on the sample: the next one goes on to dev and wins
    fake_speeds(monkeypatch, {"fp32": 10.0, "bf16": 30.0, "int8": 50.0})
    strict = choose(tiny_teacher, tiny_corpus, synthetic_docs[0], tmp_path / "b.json", "auto",
                    min_agreement=1.01, max_dev_drop=1.0)
    assert strict["chosen"] == "fp32"
    for name in ("int8", "bf16"):
        entry = strict["runtimes"][name]
        assert "dev" not in entry and "agreement with fp32 on synthetic" in entry["why"][0]
        assert entry["why"][-1] == "not gated on dev"
    # no faster than fp32: nothing is gated on dev and fp32 labels
    fake_speeds(monkeypatch, {"fp32": 60.0, "bf16": 30.0, "int8": 50.0})
    slow = choose(tiny_teacher, tiny_corpus, synthetic_docs[0], tmp_path / "c.json", "auto",
                  min_agreement=0.0, max_dev_drop=1.0)
    assert slow["chosen"] == "fp32" and slow["runtimes"]["fp32"]["dev_accuracy"] >= 0
    assert all("dev" not in slow["runtimes"][r] and "no faster than fp32" in slow["runtimes"][r]["why"][0]
               for r in ("int8", "bf16"))


def test_auto_on_a_cpu_without_fast_runtimes_runs_no_gate(tiny_teacher, tiny_corpus, synthetic_docs, tmp_path,
                                                         monkeypatch):
    from scripts.teacher import teacher_runtime

    monkeypatch.setattr(teacher_runtime, "cpu_flags", lambda: {"avx2", "fma"})
    choice = choose(tiny_teacher, tiny_corpus, synthetic_docs[0], tmp_path / "runtime.json", "auto")
    assert choice["chosen"] == "fp32" and "docs_per_sec" not in choice["runtimes"]["fp32"]
    assert "no VNNI int8 instructions" in choice["runtimes"]["int8"]["why"][0]
    assert "no bf16 instructions" in choice["runtimes"]["bf16"]["why"][0]
    # asked for by name, int8 is still measured behind the gate
    named = choose(tiny_teacher, tiny_corpus, synthetic_docs[0], tmp_path / "named.json", "int8")
    assert "synthetic" in named["runtimes"]["int8"]


def test_an_unknown_runtime_is_one_clear_line(tiny_teacher, tiny_corpus, synthetic_docs, tmp_path):
    augmented, _ = synthetic_docs
    result = run_script("choose_runtime.py", tiny_teacher, tiny_corpus / "dev.spacy", augmented,
                        tmp_path / "r.json", "--runtime", "fp8")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "teacher runtime 'fp8': choose one of fp32, bf16, int8 or auto" in result.stderr


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
    augmented, _ = synthetic_docs
    from scripts.teacher.teacher_runtime import load_teacher, save_scales, smoothing_scales

    _, texts = synthetic_docs
    save_scales(smoothing_scales(load_teacher(tiny_teacher), texts[:20]), tmp_path / "runtime.int8.npz")
    (tmp_path / "runtime.json").write_text(json.dumps({"chosen": "int8", "int8_scales": "runtime.int8.npz"}))
    out = tmp_path / "labels.spacy"
    result = run_script("label_with_teacher.py", tiny_teacher, augmented, out,
                        "--runtime-file", tmp_path / "runtime.json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "labels.labelling.json").read_text())["runtime"] == "int8"
    assert "with the int8 teacher" in result.stdout


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


def test_bench_labelling_puts_every_configuration_side_by_side(tiny_teacher, synthetic_docs, tmp_path):
    augmented, _ = synthetic_docs
    out = tmp_path / "bench.json"
    result = run_script("bench_labelling.py", tiny_teacher, augmented, out, "--n-docs", 40, "--batch-size", 8,
                        "--workers", "1,2", "--runtimes", "fp32,int8")
    assert result.returncode == 0, result.stderr[-2000:]
    bench = json.loads(out.read_text())
    assert set(bench["configurations"]) == {"fp32 x1", "fp32 x2", "int8 x1", "int8 x2"}
    assert bench["configurations"]["fp32 x1"]["speedup_vs_fp32_pipeline"] == 1.0
    # the same fp32 teacher in two processes gives the same labels
    assert bench["configurations"]["fp32 x2"]["agreement"] == 1.0
    assert bench["configurations"]["fp32 x2"]["mean_abs_dp"] < 1e-5
    assert all(c["docs_per_sec"] > 0 for c in bench["configurations"].values())
    assert bench["bare_forward_fp32"]["docs_per_sec"] > 0 and bench["bare_forward_fp32"]["model_calls"] >= 5
