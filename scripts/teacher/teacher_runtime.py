"""How the teacher's transformer runs its forward pass when it labels: fp32 or bf16.

Only the Hugging Face model's forward pass changes. The spaCy pipeline around it keeps
its own tokenization, strided windows, alignment and textcat head, so the labels of both
runtimes are comparable and bf16 can be checked against fp32 doc by doc.

- fp32: the model as trained.
- bf16: `torch.autocast("cpu", bfloat16)` around the forward pass, outputs cast back to
  float32 for thinc. Fast only where the CPU has bf16 instructions (avx512_bf16, AMX);
  elsewhere torch emulates it and it is slower than fp32, so it is not offered there.
"""
import json
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy

from scripts.shared.cli_support import InputError, require
from scripts.teacher import hf_textcat  # noqa: F401  (the component a given Hugging Face teacher runs in)
from scripts.teacher.teacher_callbacks import BF16_FLAGS, bf16_autocast, cpu_flags

RUNTIMES = ("fp32", "bf16")
# What `auto` tries beside fp32, the fallback that always passes.
AUTO_CANDIDATES = ("bf16",)


def unsupported_reason(runtime: str) -> Optional[str]:
    """None if this machine can run `runtime` fast, else why not (one short phrase)."""
    if runtime == "fp32":
        return None
    if runtime == "bf16":
        if not cpu_flags() & BF16_FLAGS:
            return ("the CPU has no bf16 instructions (avx512_bf16 or amx_bf16), so torch would emulate "
                    "bf16 more slowly than fp32")
        return None
    raise ValueError(f"unknown teacher runtime {runtime!r}; choose one of {', '.join(RUNTIMES)} or auto")


def transformer_shims(nlp) -> List:
    """The thinc shims that hold a Hugging Face model in the pipeline's transformer components."""
    shims = []
    for _, component in nlp.pipeline:
        model = getattr(component, "model", None)
        if model is None:
            continue
        for node in model.walk():
            for shim in node.shims:
                if hasattr(shim, "_hfmodel") and getattr(shim, "_model", None) is not None:
                    shims.append(shim)
    return shims


def hf_components(nlp) -> List:
    """Components that hold a Hugging Face classifier of their own (a given teacher, hf_textcat)."""
    return [component for _, component in nlp.pipeline if getattr(component, "hf_model", None) is not None]


def teacher_factories(teacher_path: Path) -> set:
    """The factories of a saved pipeline's components, read from its config.cfg (cheap: nothing loads)."""
    from spacy.util import load_config

    config = load_config(Path(teacher_path) / "config.cfg", interpolate=False)
    return {str(c.get("factory", "")) for c in config.get("components", {}).values()}


def teacher_reason(runtime: str, teacher_path: Path) -> Optional[str]:
    """Why this teacher cannot run in `runtime`, else None: bf16 needs a torch model inside."""
    if runtime == "bf16" and not teacher_factories(teacher_path) & {"transformer", "hf_textcat"}:
        return "the teacher has no transformer to run in bf16"
    return None


def apply_runtime(nlp, runtime: str) -> None:
    """Switch the forward pass of `nlp`'s transformer to `runtime`, in place (for inference only)."""
    if runtime == "fp32":
        return
    reason = unsupported_reason(runtime)
    if reason:
        raise RuntimeError(f"teacher runtime {runtime}: {reason}")
    shims = transformer_shims(nlp)
    wrapped = hf_components(nlp)
    if not shims and not wrapped:
        raise ValueError("the pipeline has no transformer to run in another precision")
    bf16_autocast([component.hf_model for component in wrapped])
    for shim in shims:
        shim._model.eval()
        bf16_autocast([shim._model])


def load_teacher(path: Path, runtime: str = "fp32"):
    from scripts.shared.cli_support import load_pipeline

    nlp = load_pipeline(path, "the teacher", "teacher")
    apply_runtime(nlp, runtime)
    return nlp


def predict_probs(nlp, texts: Sequence[str], batch_size: int = 64) -> Tuple[List[str], numpy.ndarray]:
    """The pipeline's cats for each text as an (n_texts, n_labels) array, and the label order.

    Texts run in order of length, so each batch pads little, and come back in input order."""
    import torch

    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
    labels: List[str] = []
    probs = None
    with torch.no_grad():
        for position, doc in enumerate(nlp.pipe((texts[i] for i in order), batch_size=batch_size)):
            if probs is None:
                labels = list(doc.cats)
                probs = numpy.zeros((len(texts), len(labels)), dtype="float64")
            probs[order[position]] = [doc.cats[label] for label in labels]
    if probs is None:
        probs = numpy.zeros((0, 0))
    return labels, probs


def timed_probs(nlp, texts: Sequence[str], batch_size: int) -> Tuple[List[str], numpy.ndarray, float]:
    """predict_probs plus the docs/s it ran at (after a warm-up batch)."""
    if texts:
        predict_probs(nlp, list(texts[:batch_size]), batch_size)
    start = time.perf_counter()
    labels, probs = predict_probs(nlp, texts, batch_size)
    return labels, probs, len(texts) / max(1e-9, time.perf_counter() - start)


def agreement_figures(reference: numpy.ndarray, candidate: numpy.ndarray) -> Dict[str, float]:
    """Argmax agreement and mean |ΔP| (over every class) of a runtime's probabilities against fp32's."""
    if len(reference) == 0:
        return {"agreement": 1.0, "mean_abs_dp": 0.0, "max_abs_dp": 0.0}
    delta = numpy.abs(reference - candidate)
    return {"agreement": float((reference.argmax(1) == candidate.argmax(1)).mean()),
            "mean_abs_dp": float(delta.mean()), "max_abs_dp": float(delta.max())}


def dev_probs_path(runtime_file: Path) -> Path:
    """Where the gate keeps the chosen runtime's dev probabilities, beside its choice."""
    return Path(runtime_file).with_name(Path(runtime_file).stem + ".dev_probs.npz")


def save_dev_probs(path: Path, probs: numpy.ndarray, labels: Sequence[str], runtime: str, key: str) -> None:
    with open(path, "wb") as f:  # a file object: numpy would otherwise append .npz to the name
        numpy.savez(f, probs=probs, labels=numpy.array(list(labels)), runtime=runtime, key=key)


def gated_dev_probs(runtime_file: Path, runtime: str, key: str) -> Optional[Tuple[List[str], numpy.ndarray]]:
    """(labels, probabilities) the gate measured in `runtime`, or None when it measured
    none, or measured them with another teacher or on another dev set (`key`: the
    contents_fingerprint of teacher and dev set)."""
    path = dev_probs_path(runtime_file)
    if not path.exists():
        return None
    with numpy.load(path) as data:
        if str(data["runtime"]) != runtime or str(data["key"]) != key:
            return None
        return [str(label) for label in data["labels"]], data["probs"]


def read_chosen_runtime(path: Path) -> str:
    """The runtime a gate file chose, for the steps that run the teacher after it."""
    require(path, "the teacher runtime choice", "teacher-runtime")
    try:
        chosen = json.loads(Path(path).read_text())["chosen"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise InputError(f"{path}: not a runtime choice written by choose_runtime.py; rerun "
                         "`spacy project run teacher-runtime`") from None
    if chosen not in RUNTIMES:
        raise InputError(f"{path}: unknown runtime {chosen!r}; rerun `spacy project run teacher-runtime`")
    reason = unsupported_reason(chosen)
    if reason:  # a choice made on another machine
        raise InputError(f"{path}: {chosen} was chosen, but on this machine {reason}; rerun "
                         "`spacy project run teacher-runtime`")
    return chosen
