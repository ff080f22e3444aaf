"""How the teacher's transformer runs its forward pass when it labels: fp32, bf16 or int8.

Only the Hugging Face model's forward pass changes. The spaCy pipeline around it keeps
its own tokenization, strided windows, alignment and textcat head, so the labels of every
runtime are comparable and a runtime can be checked against fp32 doc by doc.

- fp32: the model as trained.
- bf16: `torch.autocast("cpu", bfloat16)` around the forward pass, outputs cast back to
  float32 for thinc. Fast only where the CPU has bf16 instructions (avx512_bf16, AMX);
  elsewhere torch emulates it and it is slower than fp32, so it is not offered there.
- int8: dynamic quantization of every Linear layer with one int8 scale per output channel
  (the weights come from a copy quantized per block of 32, which one scale per tensor
  cannot hold), activations quantized per batch. Needs a quantized engine (x86/fbgemm).
"""
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy

RUNTIMES = ("fp32", "bf16", "int8")
# `auto` tries these, the fastest kind first; fp32 is the fallback that always passes.
AUTO_CANDIDATES = ("int8", "bf16")


def cpu_flags() -> set:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def unsupported_reason(runtime: str) -> Optional[str]:
    """None if this machine can run `runtime` fast, else why not (one short phrase)."""
    import torch

    if runtime == "fp32":
        return None
    if runtime == "bf16":
        flags = cpu_flags()
        if not flags & {"avx512_bf16", "amx_bf16"}:
            return ("the CPU has no bf16 instructions (avx512_bf16 or amx_bf16), so torch would emulate "
                    "bf16 more slowly than fp32")
        return None
    if runtime == "int8":
        engines = set(torch.backends.quantized.supported_engines)
        if not engines & {"x86", "fbgemm"}:
            return f"torch has no x86/fbgemm quantized engine here (only {sorted(engines)})"
        if not hasattr(torch, "ao") or not hasattr(torch.ao, "quantization"):
            return "this torch has no torch.ao.quantization"
        return None
    raise ValueError(f"unknown teacher runtime {runtime!r}; choose one of {', '.join(RUNTIMES)} or auto")


def _float32_outputs(output):
    """Cast every floating tensor in a Hugging Face model output back to float32."""
    import torch

    if isinstance(output, torch.Tensor):
        return output.float() if output.is_floating_point() else output
    if isinstance(output, dict):  # ModelOutput is an OrderedDict
        for key in list(output.keys()):
            output[key] = _float32_outputs(output[key])
        return output
    if isinstance(output, (tuple, list)):
        return type(output)(_float32_outputs(x) for x in output)
    return output


def _make_autocast_wrapper(model):
    import torch

    class Bf16Autocast(torch.nn.Module):
        """The wrapped model's forward under CPU bf16 autocast; float32 out."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args, **kwargs):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                output = self.inner(*args, **kwargs)
            return _float32_outputs(output)

    return Bf16Autocast(model)


def quantize_int8(model):
    """A copy of `model` whose Linear layers run in int8, one weight scale per output channel."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    engines = torch.backends.quantized.supported_engines
    torch.backends.quantized.engine = "x86" if "x86" in engines else "fbgemm"
    with warnings.catch_warnings():  # torch.ao's deprecation notices: the pinned torch still runs it
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


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


def apply_runtime(nlp, runtime: str) -> None:
    """Switch the forward pass of `nlp`'s transformer to `runtime`, in place (for inference only)."""
    reason = unsupported_reason(runtime)
    if reason:
        raise RuntimeError(f"teacher runtime {runtime}: {reason}")
    shims = transformer_shims(nlp)
    if not shims:
        raise ValueError("the pipeline has no transformer component to run in another precision")
    for shim in shims:
        model = shim._model
        model.eval()
        if runtime == "bf16":
            shim._model = _make_autocast_wrapper(model)
        elif runtime == "int8":
            shim._model = quantize_int8(model)


def load_teacher(path: Path, runtime: str = "fp32"):
    import spacy

    import distillation  # noqa: F401  (registers the scorer the teacher's config names)

    nlp = spacy.load(path)
    apply_runtime(nlp, runtime)
    return nlp


def predict_probs(nlp, texts: Sequence[str], batch_size: int = 64,
                  progress: Optional[Callable[[int], None]] = None) -> Tuple[List[str], numpy.ndarray]:
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
            if progress is not None and (position + 1) % batch_size == 0:
                progress(batch_size)
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


# Worker processes for labelling in parallel: each loads the teacher once, with its own
# share of the cores (two one-thread processes label more than one two-thread process).
_worker_teacher = None


def init_worker(teacher_path: str, runtime: str, threads: int) -> None:
    import torch

    global _worker_teacher
    torch.set_num_threads(threads)
    _worker_teacher = load_teacher(Path(teacher_path), runtime)


def worker_predict(texts: List[str], batch_size: int) -> Tuple[List[str], numpy.ndarray]:
    return predict_probs(_worker_teacher, texts, batch_size)
