"""The teacher's registered callbacks, for training it: freeze the word embeddings, train
in bf16 where the CPU has bf16 instructions, and start the classification head from a
linear probe. Not shipped with the student.

configs/teacher.cfg names them in [initialize], so only training reads them: the
`teacher` step passes this file as `--code`. A trained teacher loads without it.
"""
from pathlib import Path
from typing import Literal, Optional, Tuple, get_args

from spacy.util import registry


def freeze_word_embeddings(nlp, component: str = "transformer") -> int:
    """Stop training the transformer's word-embedding matrix; returns the frozen parameter count.

    In multilingual-e5-small that matrix is 96M of 118M parameters; freezing it cuts a
    CPU training step about fourfold while the encoder layers still learn.
    """
    frozen = 0
    for torch_model in hf_models(nlp, component):
        for param in torch_model.get_input_embeddings().parameters():
            param.requires_grad_(False)
            frozen += param.numel()
    if frozen == 0:
        raise ValueError(f"freeze_word_embeddings: no word embeddings found in '{component}'")
    return frozen


def fit_logistic_regression(features, targets, l2: float):
    """L2-regularised logistic regression (scikit-learn; the bias is not shrunk): binary for
    two classes, multinomial (softmax) for more. Returns the fitted model."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0 / l2, tol=1e-8, max_iter=1000).fit(features.astype("float64"), targets)


def init_head_from_linear_probe(nlp, docs_path: Path, component: str, l2: float, max_docs: int) -> float:
    """Set an exclusive textcat's output layer to a logistic regression fitted on the
    features it sees from the (frozen, pretrained) layers below it.

    The output layer starts at zero; at fine-tuning learning rates it grows so slowly
    that an earlier teacher's P(POS) never left 0.26-0.69 in 125 steps. Starting from a
    linear probe (LP-FT, Kumar et al. 2022) gives fine-tuning a head that already
    separates the classes. Returns the probe's training accuracy.
    """
    import numpy
    from spacy.tokens import DocBin

    textcat = nlp.get_pipe(component)
    labels = list(textcat.labels)
    model = textcat.model
    output = model.get_ref("output_layer")
    if model.layers[-1].layers[0] is not output and model.layers[-1] is not output:
        raise ValueError("linear probe: the textcat model must end in its output layer (TextCatReduce)")
    docs = list(DocBin().from_disk(docs_path).get_docs(nlp.vocab))[:max_docs]
    classes = numpy.array([labels.index(max(d.cats, key=d.cats.get)) for d in docs])
    missing = [label for i, label in enumerate(labels) if not (classes == i).any()]
    if missing:
        raise ValueError(f"linear probe: no training doc of {missing} among the first {max_docs}; "
                         "every class needs examples (raise probe_max_docs or add reviews)")
    predicted = list(nlp.pipe((d.text for d in docs), disable=[component]))
    features = predicted
    for layer in model.layers[:-1]:
        features = layer.predict(features)
    features = model.ops.to_numpy(features)
    if len(labels) == 2:
        targets = (classes == 1).astype(float)
        fitted = fit_logistic_regression(features, targets, l2)
        w, b = fitted.coef_[0], float(fitted.intercept_[0])
        W = numpy.stack([-w / 2, w / 2]).astype("float32")  # softmax over (l0, l1) = sigmoid of w.x + b
        bias = numpy.array([-b / 2, b / 2], dtype="float32")
    else:  # multinomial: the softmax's weights are the head's rows as they are
        fitted = fit_logistic_regression(features, classes, l2)
        W, bias = fitted.coef_.astype("float32"), fitted.intercept_.astype("float32")
    output.set_param("W", model.ops.asarray2f(W))
    output.set_param("b", model.ops.asarray1f(bias))
    return float(((features @ W.T + bias).argmax(1) == classes).mean())


# The config validates `precision` against this (one clear line for any other value).
TrainingPrecision = Literal["fp32", "bf16", "auto"]
# The instructions that make bf16 fast on a CPU; without them torch emulates bf16, more
# slowly than fp32. (The teacher's bf16 labelling runtime reads the same set.)
BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


def cpu_flags() -> set:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def float32_outputs(output):
    """Cast every floating tensor in a Hugging Face model output back to float32."""
    import torch

    if isinstance(output, torch.Tensor):
        return output.float() if output.is_floating_point() else output
    if isinstance(output, dict):  # ModelOutput is an OrderedDict
        for key in list(output.keys()):
            output[key] = float32_outputs(output[key])
        return output
    if isinstance(output, (tuple, list)):
        return type(output)(float32_outputs(x) for x in output)
    return output


def hf_models(nlp, component: str) -> list:
    """The Hugging Face (torch) models inside `component`'s thinc shims."""
    models = []
    for node in nlp.get_pipe(component).model.walk():
        for shim in node.shims:
            torch_model = getattr(shim, "_model", None)
            if torch_model is not None and hasattr(torch_model, "get_input_embeddings"):
                models.append(torch_model)
    return models


def choose_training_precision(models: list, precision: str) -> Tuple[str, str]:
    """(precision, why) for training `models`: `auto` is bf16 on a CPU with bf16
    instructions, fp32 elsewhere; `bf16` is used as asked."""
    if precision not in get_args(TrainingPrecision):
        raise ValueError(f"init_teacher: precision {precision!r}: choose one of {', '.join(get_args(TrainingPrecision))}")
    if precision == "fp32":
        return "fp32", "asked for"
    if any(p.is_cuda for model in models for p in model.parameters()):
        # CPU autocast does nothing on a GPU; the config's mixed_precision is the switch there.
        return "fp32", "the transformer is on a GPU (set mixed_precision in the config for fp16 there)"
    fast = bool(cpu_flags() & BF16_FLAGS)
    if precision == "auto":
        return ("bf16", "auto: the CPU has bf16 instructions") if fast else \
            ("fp32", "auto: the CPU has no bf16 instructions (avx512_bf16 or amx_bf16), so bf16 would be slower")
    return "bf16", "asked for" if fast else "asked for, though the CPU has no bf16 instructions (slower than fp32)"


def bf16_autocast(models: list) -> None:
    """Run each model's forward pass under CPU bf16 autocast, float32 out: for training
    here, and for the bf16 labelling runtime.

    The weights (and in training the gradients and the optimizer) stay float32: autocast
    computes the matrix products in bf16 and the outputs are cast back. Only this
    instance's forward is wrapped, so a teacher saved while training holds plain float32
    weights and loads without this file.
    """
    import torch

    for model in models:
        def bf16_forward(*args, _forward=model.forward, **kwargs):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                output = _forward(*args, **kwargs)
            return float32_outputs(output)

        model.forward = bf16_forward


@registry.callbacks("distill.init_teacher.v1")
def create_init_teacher(transformer: str = "transformer", textcat: str = "textcat",
                        freeze_embeddings: bool = True, probe_docs: Optional[Path] = None,
                        probe_l2: float = 1.0, probe_max_docs: int = 2000,
                        precision: TrainingPrecision = "auto"):
    """An `after_init` callback for the teacher: freeze the word embeddings, train in
    `precision` (fp32, bf16 or auto), and start the textcat head from a linear probe on
    `probe_docs` (the training corpus; null skips it)."""
    if probe_l2 <= 0:
        raise ValueError(f"init_teacher: probe_l2 must be > 0 (the probe's L2 penalty), got {probe_l2}")

    def init_teacher(nlp):
        if freeze_embeddings:
            freeze_word_embeddings(nlp, transformer)
        models = hf_models(nlp, transformer)
        chosen, why = choose_training_precision(models, precision)
        if chosen == "bf16":
            bf16_autocast(models)
        # Kept in the trained teacher's meta.json, so the report can say how it was trained.
        nlp.meta.setdefault("distill", {})["training_precision"] = {"asked": precision, "used": chosen, "why": why}
        print(f"Training the teacher in {chosen} ({why})")
        if probe_docs is not None:
            accuracy = init_head_from_linear_probe(nlp, Path(probe_docs), textcat, probe_l2, probe_max_docs)
            print(f"Linear probe on the pretrained features: {100 * accuracy:.1f}% training accuracy")
        return nlp

    return init_teacher
