"""How the teacher's transformer runs its forward pass when it labels: fp32, bf16 or int8.

Only the Hugging Face model's forward pass changes. The spaCy pipeline around it keeps
its own tokenization, strided windows, alignment and textcat head, so the labels of every
runtime are comparable and a runtime can be checked against fp32 doc by doc.

- fp32: the model as trained.
- bf16: `torch.autocast("cpu", bfloat16)` around the forward pass, outputs cast back to
  float32 for thinc. Fast only where the CPU has bf16 instructions (avx512_bf16, AMX);
  elsewhere torch emulates it and it is slower than fp32, so it is not offered there.
- int8: dynamic quantization of the Linear layers, one int8 weight scale per output
  channel, activations quantized per batch. Two things keep it close to fp32: each
  layer's input channels are smoothed first (SmoothQuant, Xiao et al. 2023: the input is
  divided and the weight multiplied by s_j = max|x_j|^a / max|w_j|^(1-a), measured on
  calibration texts, so activation outliers move into the per-channel weight scales),
  and the feed-forward down-projections (wider in than out; their GELU inputs carry the
  worst outliers) stay in fp32. Measured on the nl teacher: naive per-channel int8 kept
  96.1% of fp32's labels, this 98.9-99.8% (RESULTS.md), below the gate's 99.5% in every
  run so far. Needs the x86/fbgemm engine.
"""
import json
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy

from scripts.shared.cli_support import InputError, require
from scripts.teacher import hf_textcat  # noqa: F401  (the component a given Hugging Face teacher runs in)
from scripts.teacher.teacher_callbacks import BF16_FLAGS, bf16_autocast, cpu_flags

RUNTIMES = ("fp32", "bf16", "int8")
# SmoothQuant's migration strength a: how much of an input channel's range moves into the weights.
SMOOTHING_ALPHA = 0.8
# `auto` tries these, the fastest kind first; fp32 is the fallback that always passes.
AUTO_CANDIDATES = ("int8", "bf16")


def not_worth_trying(runtime: str) -> Optional[str]:
    """Why `auto` does not try a runtime this CPU can run but gains little from, else None.
    (Asked for by name, it still runs, behind the same gate.)"""
    if runtime == "int8" and not cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"}:
        return ("the CPU has no VNNI int8 instructions (avx512_vnni, avx_vnni, amx_int8): measured on such a CPU, "
                "int8 labelled 1.05x as fast as fp32 and changed 0.6-0.8% of the labels")
    return None


def unsupported_reason(runtime: str) -> Optional[str]:
    """None if this machine can run `runtime` fast, else why not (one short phrase)."""
    import torch

    if runtime == "fp32":
        return None
    if runtime == "bf16":
        if not cpu_flags() & BF16_FLAGS:
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


def kept_in_fp32(module) -> bool:
    """Feed-forward down-projections (e.g. 1536 -> 384) stay fp32: their inputs' outliers
    survive smoothing."""
    return module.in_features > module.out_features


def encoder_linears(model) -> Dict[str, object]:
    import torch

    return {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


def smoothing_scales(nlp, texts: Sequence[str], alpha: float = SMOOTHING_ALPHA,
                     batch_size: int = 64) -> Dict[str, numpy.ndarray]:
    """Per quantized Linear layer, the smoothing factor of each input channel, from the
    largest |input| the fp32 teacher sees on `texts`."""
    import torch

    (shim,) = transformer_shims(nlp)[:1]
    linears = {n: m for n, m in encoder_linears(shim._model).items() if not kept_in_fp32(m)}
    act_max: Dict[str, "torch.Tensor"] = {}

    def record(name):
        def hook(module, args):
            x = args[0].detach().abs().reshape(-1, args[0].shape[-1]).amax(0)
            act_max[name] = torch.maximum(act_max[name], x) if name in act_max else x
        return hook

    hooks = [m.register_forward_pre_hook(record(n)) for n, m in linears.items()]
    try:
        predict_probs(nlp, list(texts), batch_size)
    finally:
        for hook in hooks:
            hook.remove()
    scales = {}
    for name, module in linears.items():
        if name not in act_max:
            continue
        w_max = module.weight.detach().abs().amax(0).clamp(min=1e-5)
        scale = (act_max[name].clamp(min=1e-5) ** alpha / w_max ** (1 - alpha)).clamp(min=1e-5)
        scales[name] = scale.numpy().astype("float32")
    return scales


def save_scales(scales: Dict[str, numpy.ndarray], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # a file object: numpy would otherwise append .npz to the name
        numpy.savez(f, **scales)


def load_scales(path: Path) -> Dict[str, numpy.ndarray]:
    with numpy.load(path) as data:
        return {key: data[key] for key in data.files}


def quantize_int8(model, scales: Dict[str, numpy.ndarray]):
    """`model` with its smoothed Linear layers in int8 (one scale per output channel)."""
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    class SmoothedInput(torch.nn.Module):
        """Divides the input channels by the factors its Linear layer's weights were multiplied by."""

        def __init__(self, inverse, linear):
            super().__init__()
            self.register_buffer("inverse", inverse)
            self.linear = linear

        def forward(self, x):
            return self.linear(x * self.inverse)

    linears = encoder_linears(model)
    missing = [n for n, m in linears.items() if not kept_in_fp32(m) and n not in scales]
    if missing:
        raise ValueError(f"int8: no smoothing scales for {missing[0]} (and {len(missing) - 1} more); "
                         "rerun the teacher-runtime step, which measures them for this teacher")
    for name, scale in scales.items():
        module = linears[name]
        factor = torch.from_numpy(numpy.asarray(scale, dtype="float32"))
        module.weight.data = module.weight.data * factor
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attr, SmoothedInput(1.0 / factor, module))
    engines = torch.backends.quantized.supported_engines
    torch.backends.quantized.engine = "x86" if "x86" in engines else "fbgemm"
    qconfig = {f"{name}.linear": per_channel_dynamic_qconfig for name in scales}
    with warnings.catch_warnings():  # torch.ao's deprecation notices: the pinned torch still runs it
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, qconfig, dtype=torch.qint8)


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
    """Why this teacher cannot run in `runtime`, else None: bf16 needs a torch model inside,
    int8 a spaCy transformer component (its smoothing is measured through it)."""
    factories = teacher_factories(teacher_path)
    if runtime == "fp32":
        return None
    if runtime == "int8" and "transformer" not in factories:
        return "the teacher has no spaCy transformer component (int8 is measured and quantized through one)"
    if runtime == "bf16" and not factories & {"transformer", "hf_textcat"}:
        return "the teacher has no transformer to run in bf16"
    return None


def apply_runtime(nlp, runtime: str, int8_scales: Optional[Dict[str, numpy.ndarray]] = None) -> None:
    """Switch the forward pass of `nlp`'s transformer to `runtime`, in place (for inference only).
    int8 needs the smoothing scales `smoothing_scales` measured for this teacher."""
    if runtime == "fp32":
        return
    reason = unsupported_reason(runtime)
    if reason:
        raise RuntimeError(f"teacher runtime {runtime}: {reason}")
    shims = transformer_shims(nlp)
    wrapped = hf_components(nlp)
    if runtime == "bf16" and wrapped:
        bf16_autocast([component.hf_model for component in wrapped])
    if not shims and not wrapped:
        raise ValueError("the pipeline has no transformer to run in another precision")
    if runtime == "int8" and (int8_scales is None or len(shims) != 1):
        raise ValueError("int8 needs the smoothing scales measured for this teacher (one transformer)")
    for shim in shims:
        model = shim._model
        model.eval()
        if runtime == "bf16":
            bf16_autocast([model])
        elif runtime == "int8":
            shim._model = quantize_int8(model, int8_scales)


def load_teacher(path: Path, runtime: str = "fp32", int8_scales: Optional[Path] = None):
    from scripts.shared.cli_support import load_pipeline

    nlp = load_pipeline(path, "the teacher", "teacher")
    apply_runtime(nlp, runtime, load_scales(int8_scales) if runtime == "int8" and int8_scales else None)
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


# Worker processes for labelling in parallel: each loads the teacher once, with its own
# share of the cores (two one-thread processes label more than one two-thread process).
_worker_teacher = None


def init_worker(teacher_path: str, runtime: str, int8_scales: Optional[str], threads: int) -> None:
    import torch

    global _worker_teacher
    torch.set_num_threads(threads)
    _worker_teacher = load_teacher(Path(teacher_path), runtime, Path(int8_scales) if int8_scales else None)


def worker_predict(texts: List[str], batch_size: int) -> Tuple[List[str], numpy.ndarray]:
    return predict_probs(_worker_teacher, texts, batch_size)


def read_chosen_runtime(path: Path) -> Tuple[str, Optional[Path]]:
    """The runtime a gate file chose, and int8's smoothing scales, for the steps that run the
    teacher after it."""
    require(path, "the teacher runtime choice", "teacher-runtime")
    try:
        choice = json.loads(Path(path).read_text())
        chosen = choice["chosen"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise InputError(f"{path}: not a runtime choice written by choose_runtime.py; rerun "
                         "`spacy project run teacher-runtime`") from None
    if chosen not in RUNTIMES:
        raise InputError(f"{path}: unknown runtime {chosen!r}; rerun `spacy project run teacher-runtime`")
    scales = Path(path).parent / choice["int8_scales"] if chosen == "int8" and choice.get("int8_scales") else None
    if chosen == "int8" and (scales is None or not scales.exists()):
        raise InputError(f"{path}: int8 chosen but its smoothing scales are missing; rerun "
                         "`spacy project run teacher-runtime`")
    return chosen, scales
