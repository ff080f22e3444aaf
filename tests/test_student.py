"""The student: the soft_textcat component from configs/student.cfg, its data and its twin baseline."""
import copy
import json

import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.util import load_model_from_config
from thinc.api import Config

from conftest import ROOT

TOK2VEC = {
    "@architectures": "spacy.Tok2Vec.v2",
    "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 16, "rows": [500, 500],
              "attrs": ["NORM", "SHAPE"], "include_static_vectors": False},
    "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": 16, "window_size": 1,
               "maxout_pieces": 2, "depth": 1},
}
BOW = {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True, "ngram_size": 1,
       "no_output_layer": False, "length": 4096}
ARCHITECTURES = {
    "bow": BOW,
    "ensemble": {"@architectures": "spacy.TextCatEnsemble.v2", "tok2vec": TOK2VEC, "linear_model": BOW},
    "reduce": {"@architectures": "spacy.TextCatReduce.v1", "exclusive_classes": True, "tok2vec": TOK2VEC,
               "use_reduce_first": False, "use_reduce_last": False, "use_reduce_max": True,
               "use_reduce_mean": True},
    "parametric_attention": {"@architectures": "spacy.TextCatParametricAttention.v1",
                             "exclusive_classes": True, "tok2vec": TOK2VEC},
}
SOFT = [("Het boek is prachtig", 0.9), ("Saai en slecht boek", 0.15), ("Best aardig boek", 0.6),
        ("Wat een vreselijk verhaal", 0.05)]


def student_config(model=None, loss="distill.mse_probs.v1"):
    config = Config().from_disk(ROOT / "configs" / "student.cfg")
    if model is not None:
        config["components"]["textcat"]["model"] = copy.deepcopy(model)
    config["components"]["textcat"]["loss"] = {"@losses": loss}
    return config


def soft_examples(nlp, data=SOFT):
    return [Example.from_dict(nlp.make_doc(text), {"cats": {"POS": p, "NEG": 1.0 - p}}) for text, p in data]


def mean_abs_error(nlp, examples):
    docs = list(nlp.pipe(eg.reference.text for eg in examples))
    return sum(abs(d.cats["POS"] - eg.reference.cats["POS"]) for d, eg in zip(docs, examples)) / len(docs)


def test_student_config_trains_through_nlp_update_to_the_soft_targets():
    """The component's wiring (get_loss, missing labels, the output kind of the default
    ensemble) takes its predictions to graded targets such as 0.6, not to 0 or 1.
    Whether each loss hands each output layer the right gradient is test_losses.py's job."""
    nlp = load_model_from_config(student_config(ARCHITECTURES["ensemble"]), auto_fill=True)
    examples = soft_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    before = mean_abs_error(nlp, examples)
    for _ in range(100):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    after = mean_abs_error(nlp, examples)
    assert after < 0.05 < before, (before, after)
    doc = nlp("Best aardig boek")
    assert doc.cats["POS"] == pytest.approx(0.6, abs=0.1)
    assert sum(doc.cats.values()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("cats", [{"POS": 0.7, "NEG": 0.7}, {"POS": 1.2, "NEG": -0.2}])
def test_soft_textcat_rejects_cats_that_are_not_probabilities(cats):
    nlp = load_model_from_config(student_config(BOW), auto_fill=True)
    good = soft_examples(nlp)
    optimizer = nlp.initialize(lambda: good)
    bad = [Example.from_dict(nlp.make_doc("Raar label"), {"cats": cats})]
    with pytest.raises(ValueError, match="probabilities in \\[0, 1\\] that sum to 1"):
        nlp.update(bad, sgd=optimizer)


def test_builtin_textcat_would_reject_soft_labels():
    """Why the student needs its own component: spaCy's textcat raises E851 on 0.9."""
    nlp = spacy.blank("nl")
    nlp.add_pipe("textcat")
    examples = soft_examples(nlp)
    with pytest.raises(ValueError, match="E851"):
        nlp.initialize(lambda: examples)


def test_training_corpus_reads_every_synthetic_and_original_example_once(tmp_path):
    from collections import Counter

    from scripts.student.distillation import create_training_corpus

    nlp = spacy.blank("nl")
    texts = {"synthetic": ["a <mask> b", "c d"], "original": ["echte review", "c d"]}
    for name, batch in texts.items():
        db = DocBin()
        for doc in nlp.pipe(batch):
            doc.cats = {"POS": 0.5, "NEG": 0.5}
            db.add(doc)
        db.to_disk(tmp_path / f"{name}.spacy")
    read = create_training_corpus(str(tmp_path / "synthetic.spacy"), str(tmp_path / "original.spacy"))
    assert Counter(eg.reference.text for eg in read(nlp)) == Counter(texts["synthetic"] + texts["original"])


def write_soft_docbin(nlp, path, texts, user_data=None):
    db = DocBin(store_user_data=True)
    for doc in nlp.pipe(texts):
        doc.cats = {"POS": 0.5, "NEG": 0.5}
        doc.user_data.update(user_data or {})
        db.add(doc)
    db.to_disk(path)


@pytest.mark.parametrize("merge", [True, False])
def test_training_corpus_keeps_the_recorded_mask_token_as_one_token(tmp_path, merge):
    from scripts.student.distillation import create_training_corpus

    nlp = spacy.blank("nl")
    nlp.vocab.set_vector("boek", numpy.ones(4, dtype="float32"))  # a student with teacher vectors
    text = "Een <mask> boek, echt<mask>. <mask><mask> saai"
    write_soft_docbin(nlp, tmp_path / "synthetic.spacy", [text],
                      {"mask_token": "<mask>"})
    write_soft_docbin(nlp, tmp_path / "original.spacy", ["Een <mask> is hier gewoon tekst"])
    read = create_training_corpus(str(tmp_path / "synthetic.spacy"), str(tmp_path / "original.spacy"),
                                  merge_mask_token=merge)
    examples = list(read(nlp))
    assert examples[0].predicted.text == text
    synthetic, original = [[t.text for t in eg.predicted] for eg in examples]
    if merge:
        assert synthetic == ["Een", "<mask>", "boek", ",", "echt", "<mask>", ".", "<mask>", "<mask>", "saai"]
        assert nlp.vocab.vectors.n_keys == 1  # no vectors made up for the new tokens
    else:
        assert "mask" in synthetic and "<mask>" not in synthetic
    assert "<mask>" not in original  # only docs whose augmentation recorded a mask token


def test_training_corpus_repeats_the_original_reviews(tmp_path):
    from collections import Counter

    from scripts.student.distillation import create_training_corpus

    nlp = spacy.blank("nl")
    write_soft_docbin(nlp, tmp_path / "synthetic.spacy", ["synthetisch een", "synthetisch twee"])
    write_soft_docbin(nlp, tmp_path / "original.spacy", ["echte review"])
    read = create_training_corpus(str(tmp_path / "synthetic.spacy"), str(tmp_path / "original.spacy"),
                                  original_repeats=3)
    assert Counter(eg.reference.text for eg in read(nlp)) == {"synthetisch een": 1, "synthetisch twee": 1,
                                                              "echte review": 3}
    with pytest.raises(ValueError, match="original_repeats must be at least 1"):
        create_training_corpus(None, None, original_repeats=0)


def test_baseline_has_the_students_architecture_and_training_settings():
    student = Config().from_disk(ROOT / "configs" / "student.cfg", interpolate=False)
    baseline = Config().from_disk(ROOT / "configs" / "baseline.cfg", interpolate=False)
    assert student["components"]["textcat"]["factory"] == "soft_textcat"
    assert baseline["components"]["textcat"]["factory"] == "textcat"
    # The same model but for the teacher's vectors, which only the student gets by default.
    student_model = copy.deepcopy(student["components"]["textcat"]["model"])
    baseline_model = copy.deepcopy(baseline["components"]["textcat"]["model"])
    assert baseline_model["tok2vec"]["embed"].pop("include_static_vectors") is False
    student_model["tok2vec"]["embed"].pop("include_static_vectors")
    assert student_model == baseline_model
    for key in ("batcher", "optimizer", "dropout", "patience", "eval_frequency", "score_weights"):
        assert student["training"][key] == baseline["training"][key], key
    assert student["nlp"] == baseline["nlp"]


def test_seeds_train_each_route_of_the_teachers_knowledge(monkeypatch, tmp_path):
    """`seeds` trains the configured student and baseline plus each with the teacher's vectors
    switched the other way; a model without that switch gets no route, and a warning."""
    from scripts.experiments import seed_routes

    variants = seed_routes.plan_variants(routes=True)
    switch = "--" + seed_routes.VECTORS_SWITCH
    assert variants["student"] == ("student", []) and variants["baseline"] == ("baseline", [])
    assert variants["student_no_vectors"] == ("student", [switch, "false"])
    assert variants["baseline_vectors"] == ("baseline", [switch, "true"])
    assert set(seed_routes.plan_variants(routes=False)) == {"student", "baseline"}

    bow_only = Config().from_disk(ROOT / "configs" / "baseline.cfg", interpolate=False)
    bow_only["components"]["textcat"]["model"] = dict(BOW)
    bow_only.to_disk(tmp_path / "bow.cfg")
    monkeypatch.setitem(seed_routes.CONFIGS, "baseline", tmp_path / "bow.cfg")
    assert set(seed_routes.plan_variants(routes=True)) == {"student", "baseline", "student_no_vectors"}


def test_what_the_vectors_add_is_each_model_with_them_minus_without_them():
    from scripts.experiments import seed_routes
    from scripts.evaluation.measure import resample_indices

    right, half = numpy.ones((2, 100)), numpy.tile([1.0, 0.0], (2, 50))
    chosen = {"student": right, "student_no_vectors": half, "baseline": half, "baseline_vectors": right}
    effect = seed_routes.vectors_effect(seed_routes.plan_variants(routes=True), chosen, resample_indices(100))
    assert effect["student"]["difference"] == pytest.approx(0.5)  # student has them, its variant not
    assert effect["baseline"]["difference"] == pytest.approx(0.5)  # the baseline's variant has them
    assert seed_routes.vectors_effect(seed_routes.plan_variants(routes=False), chosen, resample_indices(100)) == {}


def test_a_seed_is_reused_only_while_its_inputs_are_unchanged(tmp_path):
    """`seeds` resumes by skipping trained seeds; a changed config or corpus must retrain them,
    and what the seed itself wrote must not count as an input."""
    from scripts.experiments import points

    config, corpus, output = tmp_path / "student.cfg", tmp_path / "synthetic.spacy", tmp_path / "seeds" / "0"
    config.write_text("[training]\nmax_epochs = 4\n")
    corpus.write_bytes(b"docs")
    cmd = [*points.train_script(), str(config), str(output), "--paths.synthetic", str(corpus), "--system.seed", "0"]
    signature = points.inputs_signature(cmd)
    for checkpoint in points.CHECKPOINTS:
        (output / checkpoint).mkdir(parents=True)
    (output / "schedule.json").write_text("{}")
    assert not points.is_trained(output, signature)  # no record of its inputs: trained again
    (output / "inputs.json").write_text(json.dumps({"signature": signature}))
    assert points.is_trained(output, points.inputs_signature(cmd))
    (output / "model-last" / "weights").write_bytes(b"new")  # its own output: still the same inputs
    assert points.inputs_signature(cmd) == signature
    config.write_text("[training]\nmax_epochs = 5\n")
    assert not points.is_trained(output, points.inputs_signature(cmd))
    config.write_text("[training]\nmax_epochs = 4\n")
    corpus.write_bytes(b"other docs")
    assert points.inputs_signature(cmd) != signature
    assert points.inputs_signature([*cmd[:-1], "1"]) != points.inputs_signature(cmd)
    assert points.inputs_signature([*cmd, "--evals", "3"]) != points.inputs_signature(cmd)


def test_one_signature_for_one_training_wherever_it_is_written(tmp_path):
    """`all` and the seed drivers write their commands differently: another output folder,
    the overrides in another order, the vectors passed to a config that never loads them.
    The same training must get the same signature, so a seed can be copied from `all`."""
    from scripts.experiments import points

    vectors = tmp_path / "vectors"
    vectors.mkdir()
    (vectors / "table").write_bytes(b"v1")
    data = ["--paths.train", str(tmp_path / "train.spacy"), "--system.seed", "0"]
    baseline = str(ROOT / "configs" / "baseline.cfg")
    in_all = [*points.train_script(), baseline, str(tmp_path / "baseline"), *data]
    in_seeds = [*points.train_script(), baseline, str(tmp_path / "seeds" / "0" / "baseline"),
                *data[2:], *data[:2], "--paths.vectors", str(vectors)]
    assert points.inputs_signature(in_all) == points.inputs_signature(in_seeds)
    # A config that reads the vectors depends on their contents.
    student = [*points.train_script(), str(ROOT / "configs" / "student.cfg"), str(tmp_path / "student"), *data,
               "--paths.vectors", str(vectors)]
    before = points.inputs_signature(student)
    (vectors / "table").write_bytes(b"v2")
    assert points.inputs_signature(student) != before
    assert points.inputs_signature(in_seeds) == points.inputs_signature(in_all)


def test_a_seed_trained_in_the_drivers_process_equals_one_trained_by_the_script(tiny_corpus, tmp_path, capsys):
    """The seed drivers train in their own process to save the imports: the model must be
    the one `python -m scripts.shared.train` makes, and a failure one line, as there."""
    import spacy
    from conftest import run_script
    from scripts.experiments import points
    from scripts.shared.cli_support import script_command

    from conftest import STUDENT_CODE

    args = [ROOT / "configs/baseline.cfg", None, "--code", STUDENT_CODE, "--paths.train", tiny_corpus / "train.spacy",
            "--paths.dev", tiny_corpus / "dev.spacy", "--training.max_epochs", 1, "--system.seed", 3]
    here, there = tmp_path / "here", tmp_path / "there"
    assert points.train([*script_command("scripts.shared.train"), *map(str, [args[0], here, *args[2:]])])
    result = run_script("train.py", args[0], there, *args[2:])
    assert result.returncode == 0, result.stderr[-2000:]
    doc = "Een prachtig boek, ik heb ervan genoten."
    assert spacy.load(here / "model-last")(doc).cats == spacy.load(there / "model-last")(doc).cats
    assert (here / "model-last" / "textcat" / "model").read_bytes() == \
        (there / "model-last" / "textcat" / "model").read_bytes()
    # Each records what it was trained from: one signature for both, the drivers' own.
    recorded = {json.loads((folder / "inputs.json").read_text())["signature"] for folder in (here, there)}
    assert recorded == {points.inputs_signature([*script_command("scripts.shared.train"),
                                                 *map(str, [args[0], here, *args[2:]])])}

    capsys.readouterr()
    missing = [*map(str, [args[0], tmp_path / "bad", *args[2:4]]), "--paths.train", str(tmp_path / "none.spacy"),
               *map(str, args[6:8])]
    assert not points.train([*script_command("scripts.shared.train"), *missing])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    assert out.err.strip().splitlines() == [f"✘ paths.train = {tmp_path / 'none.spacy'}: no such corpus; "
                                            "run the step that makes it first"]


def test_a_seed_with_the_inputs_of_a_trained_model_is_copied_not_retrained(tiny_corpus, tmp_path, monkeypatch):
    """Seed 0 of `seeds` repeats the training that `all` did: the driver copies that model
    (the file it would have trained, measured byte for byte), and trains only when an
    input differs."""
    from scripts.experiments import points

    from conftest import STUDENT_CODE

    def command(output, seed):
        return [*points.train_script(), str(ROOT / "configs/baseline.cfg"), str(output), "--code", str(STUDENT_CODE),
                "--paths.train", str(tiny_corpus / "train.spacy"), "--paths.dev", str(tiny_corpus / "dev.spacy"),
                "--training.max_epochs", "1", "--system.seed", str(seed)]

    in_all, seed0, seed1 = tmp_path / "baseline", tmp_path / "seeds" / "0", tmp_path / "seeds" / "1"
    assert points.train(command(in_all, 0))
    trained = []
    monkeypatch.setattr(points, "train", lambda cmd: trained.append(cmd) or False)
    wall = points.train_models([("baseline", 0, command(seed0, 0), seed0)], twins=[in_all])
    assert trained == []
    assert (seed0 / "model-last" / "textcat" / "model").read_bytes() == \
        (in_all / "model-last" / "textcat" / "model").read_bytes()
    assert wall == {"baseline": {0: json.loads((in_all / "schedule.json").read_text())["wall_seconds"]}}
    assert points.is_trained(seed0, points.inputs_signature(command(seed0, 0)))  # and reused from now on
    # Another seed has other inputs: it is trained, not copied.
    with pytest.raises(points.InputError, match="training baseline with seed 1 failed"):
        points.train_models([("baseline", 1, command(seed1, 1), seed1)], twins=[in_all])
    assert len(trained) == 1 and not (seed1 / "model-last").exists()


@pytest.mark.parametrize("name", ["student_bow", "student_cnn", "student_static"])
def test_each_student_config_is_the_shipped_one_with_another_model_block(name):
    """Swapping the student's architecture is one edit: everything but the model block (the
    data, the loss, the training schedule) is the shipped student's."""
    shipped = Config().from_disk(ROOT / "configs" / "student.cfg", interpolate=False)
    other = Config().from_disk(ROOT / "configs" / f"{name}.cfg", interpolate=False)
    assert other["components"]["textcat"]["model"] != shipped["components"]["textcat"]["model"]
    for config in (shipped, other):
        del config["components"]["textcat"]["model"]
    assert other == shipped


def test_the_static_student_is_the_max_and_mean_of_the_word_vectors_through_one_linear_map():
    """distill.StaticVectorsEmbed.v1 under TextCatReduce's max and mean: the same logits as
    the max and the mean of the words' projected vectors times one matrix, and nothing else
    read (the Model2Vec shape, with the max beside the mean)."""
    import spacy
    from thinc.api import Config as ThincConfig

    nlp = spacy.blank("nl")
    rng = numpy.random.default_rng(0)
    words = ["goed", "slecht", "boek", "niet"]
    nlp.vocab.reset_vectors(width=6)
    for word in words:
        nlp.vocab.set_vector(word, rng.normal(size=6).astype("float32"))
    model_block = ThincConfig().from_disk(ROOT / "configs" / "student_static.cfg", interpolate=False)[
        "components"]["textcat"]["model"]
    textcat = nlp.add_pipe("soft_textcat", config={"model": model_block})
    doc = nlp.make_doc("goed boek niet")
    nlp.initialize(lambda: [Example.from_dict(doc, {"cats": {"NEG": 0.0, "POS": 1.0}})])
    model = textcat.model
    output_layer = model.get_ref("output_layer")
    output_layer.set_param("W", rng.normal(size=output_layer.get_param("W").shape).astype("float32"))
    probs = model.predict([doc])
    W, b = output_layer.get_param("W"), output_layer.get_param("b")
    projection = next(n for n in model.walk() if n.name == "static_vectors").get_param("W")
    projected = numpy.array([projection @ nlp.vocab.get_vector(w) for w in ("goed", "boek", "niet")])
    logits = W @ numpy.concatenate([projected.max(axis=0), projected.mean(axis=0)]) + b
    expected = numpy.exp(logits - logits.max()) / numpy.exp(logits - logits.max()).sum()
    assert numpy.allclose(probs[0], expected, atol=1e-5)


def test_a_saved_vectors_table_forgets_its_lookup_attribute(tmp_path):
    """Why make_vectors.py stores each word under three case forms: spaCy 3.8 does not save
    Vectors(attr="LOWER") in default mode, so a reloaded pipeline looks vectors up by ORTH.
    When this fails, spaCy keeps the attribute and one lower-case key per word would do."""
    import spacy
    from spacy.attrs import ORTH
    from spacy.vectors import Vectors

    nlp = spacy.blank("nl")
    vectors = Vectors(strings=nlp.vocab.strings, shape=(1, 4), attr="LOWER")
    vectors.add("goed", vector=numpy.ones(4, dtype="float32"))
    nlp.vocab.vectors = vectors
    nlp.to_disk(tmp_path / "nlp")
    assert spacy.load(tmp_path / "nlp").vocab.vectors.attr == ORTH


@pytest.mark.parametrize("ngram_size", [1, 2, 3])
def test_the_batched_bag_of_words_is_spacys_with_the_same_weights(ngram_size):
    """distill.BatchedTextCatBOW.v1 only computes TextCatBOW.v3's features faster: with the
    same weights it gives the same probabilities, and one update moves both to the same
    weights. It also takes an empty text, on which TextCatBOW.v3 stops."""
    texts = ["Het boek is prachtig , echt prachtig", "Saai", "Niet goed , niet slecht", "Wat een boek"]
    pipelines = {}
    for arch in ("spacy.TextCatBOW.v3", "distill.BatchedTextCatBOW.v1"):
        model = {"@architectures": arch, "exclusive_classes": True, "ngram_size": ngram_size,
                 "no_output_layer": False, "length": 4096}
        nlp = load_model_from_config(student_config(model), auto_fill=True)
        examples = soft_examples(nlp, list(zip(texts, [0.9, 0.2, 0.5, 0.7])))
        optimizer = nlp.initialize(lambda: examples)
        layer = nlp.get_pipe("textcat").model.get_ref("output_layer")
        layer.set_param("W", numpy.random.default_rng(0).normal(size=layer.get_param("W").shape).astype("f"))
        pipelines[arch] = (nlp, examples, optimizer, layer)
    probs = {arch: numpy.array([[d.cats["POS"], d.cats["NEG"]] for d in nlp.pipe(texts)])
             for arch, (nlp, *_) in pipelines.items()}
    assert numpy.allclose(*probs.values(), atol=1e-6)
    for nlp, examples, optimizer, _ in pipelines.values():
        nlp.update(examples, sgd=optimizer, drop=0.0)
    weights = [layer.get_param("W") for *_, layer in pipelines.values()]
    assert not numpy.allclose(weights[0], numpy.random.default_rng(0).normal(size=weights[0].shape))
    assert numpy.allclose(*weights, atol=1e-6)
    batched = pipelines["distill.BatchedTextCatBOW.v1"][0]
    docs = list(batched.pipe(["Wat een boek", "", "Saai"]))
    assert docs[0].cats == pytest.approx(batched("Wat een boek").cats)
    assert docs[2].cats == pytest.approx(batched("Saai").cats)


def test_the_batched_bag_of_words_hashes_the_attribute_it_is_given():
    """attr = "LOWER" makes "Goed BOEK" and "goed boek" one set of features; ORTH, the
    default (TextCatBOW.v3's), keeps them apart. A name spaCy does not know is refused."""
    cats = {}
    for attr in ("ORTH", "LOWER"):
        model = {"@architectures": "distill.BatchedTextCatBOW.v1", "exclusive_classes": True, "ngram_size": 2,
                 "no_output_layer": False, "length": 4096, "attr": attr}
        nlp = load_model_from_config(student_config(model), auto_fill=True)
        nlp.initialize(lambda: soft_examples(nlp))
        layer = nlp.get_pipe("textcat").model.get_ref("output_layer")
        layer.set_param("W", numpy.random.default_rng(0).normal(size=layer.get_param("W").shape).astype("f"))
        cats[attr] = [nlp(text).cats["POS"] for text in ("Goed BOEK", "goed boek")]
    assert cats["LOWER"][0] == pytest.approx(cats["LOWER"][1])
    assert cats["ORTH"][0] != pytest.approx(cats["ORTH"][1])
    model["attr"] = "LOWERCASE"
    with pytest.raises(ValueError, match="unknown token attribute 'LOWERCASE'"):
        load_model_from_config(student_config(model), auto_fill=True)
