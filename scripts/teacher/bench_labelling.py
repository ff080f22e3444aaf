"""Labelling throughput, side by side: the fp32 pipeline, bf16, and the bare forward pass.

Every runtime labels the same sample of synthetic docs the way the `label` step does
(the teacher pipeline on length-sorted batches, no gradients, every thread). Each one's
labels are compared with fp32's (argmax agreement, mean |ΔP|). The bare forward pass
replays exactly the tensors the fp32 pipeline fed its Hugging Face model (a forward
pre-hook records every call), so its ratio to the pipeline is what spaCy adds around
the model.
"""
import json
import random
import time
from pathlib import Path
from typing import Dict

import numpy
import typer
from spacy.tokens import DocBin
from wasabi import msg

from scripts.shared.cli_support import InputError, require, run_cli
from scripts.teacher.teacher_runtime import (RUNTIMES, agreement_figures, load_teacher, predict_probs,
                                             transformer_shims, unsupported_reason)


def main(
    teacher_path: Path = typer.Argument(...),
    docs_path: Path = typer.Argument(..., help="Docs like those labelled (.spacy)"),
    output_path: Path = typer.Argument(...),
    n_docs: int = typer.Option(1000, help="Docs sampled for the benchmark"),
    batch_size: int = typer.Option(64),
    runtimes: str = typer.Option(",".join(RUNTIMES), help="Runtimes to try (those this CPU cannot run fast "
                                 "are skipped, with the reason)"),
    seed: int = typer.Option(0),
):
    import torch

    require(teacher_path, "the trained teacher", "teacher")
    require(docs_path, "the synthetic docs", "augment")
    wanted = [r.strip() for r in runtimes.split(",") if r.strip()]
    unknown = [r for r in wanted if r not in RUNTIMES]
    if unknown or not wanted:
        raise InputError(f"runtimes '{runtimes}': choose from {', '.join(RUNTIMES)}")
    threads = torch.get_num_threads()
    import spacy

    texts = [d.text for d in DocBin().from_disk(docs_path).get_docs(spacy.blank("xx").vocab)]
    texts = random.Random(seed).sample(texts, min(n_docs, len(texts)))
    result: Dict = {"n_docs": len(texts), "batch_size": batch_size, "threads": threads,
                    "mean_chars": float(numpy.mean([len(t) for t in texts])), "configurations": {}, "skipped": {}}

    # fp32 in one process first: the reference labels, and the model calls the bare pass replays
    teacher = load_teacher(teacher_path, "fp32")
    hf_model = transformer_shims(teacher)[0]._model
    calls = []
    hook = hf_model.register_forward_pre_hook(lambda m, args, kwargs: calls.append((args, kwargs)), with_kwargs=True)
    predict_probs(teacher, texts, batch_size)  # records the calls; also the warm-up
    hook.remove()
    start = time.perf_counter()
    _, reference = predict_probs(teacher, texts, batch_size)
    fp32_seconds = time.perf_counter() - start

    def bare():
        hf_model.eval()  # thinc's predict puts the model back in train mode when it returns
        with torch.no_grad():
            for args, kwargs in calls:
                hf_model(*args, **kwargs)

    bare()
    start = time.perf_counter()
    bare()
    result["bare_forward_fp32"] = {"docs_per_sec": len(texts) / (time.perf_counter() - start),
                                   "model_calls": len(calls)}
    del teacher
    for runtime in wanted:
        reason = unsupported_reason(runtime)
        if reason:
            msg.warn(f"{runtime} skipped: {reason}")
            result["skipped"][runtime] = reason
            continue
        if runtime == "fp32":
            probs, seconds = reference, fp32_seconds
        else:
            model = load_teacher(teacher_path, runtime)
            predict_probs(model, texts[:batch_size], batch_size)  # warm-up
            start = time.perf_counter()
            _, probs = predict_probs(model, texts, batch_size)
            seconds = time.perf_counter() - start
        entry = {"runtime": runtime, "docs_per_sec": len(texts) / seconds, **agreement_figures(reference, probs)}
        result["configurations"][runtime] = entry
        msg.info(f"{runtime}: {entry['docs_per_sec']:.1f} docs/s, {100 * entry['agreement']:.2f}% agreement "
                 "with fp32")
    base = len(texts) / fp32_seconds
    for entry in result["configurations"].values():
        entry["speedup_vs_fp32_pipeline"] = entry["docs_per_sec"] / base
    result["ratio_pipeline_to_bare"] = (len(texts) / fp32_seconds) / result["bare_forward_fp32"]["docs_per_sec"]
    rows = [(name, f"{e['docs_per_sec']:.1f}", f"{e['speedup_vs_fp32_pipeline']:.2f}x",
             f"{100 * e['agreement']:.2f}", f"{e['mean_abs_dp']:.4f}") for name, e in result["configurations"].items()]
    rows.append(("bare forward fp32", f"{result['bare_forward_fp32']['docs_per_sec']:.1f}",
                 f"{result['bare_forward_fp32']['docs_per_sec'] / base:.2f}x", "-", "-"))
    msg.table(rows, header=("runtime", "docs/s", "vs fp32", "agree %", "mean |dP|"), divider=True)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(result, indent=2))
    msg.good(f"Wrote {output_path}")


if __name__ == "__main__":
    run_cli(main, settings=("label",))
