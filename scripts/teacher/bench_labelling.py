"""Labelling throughput, side by side: the fp32 pipeline, each runtime, each with workers,
and the bare forward pass.

Every configuration labels the same sample of synthetic docs the way the `label` step
does (the teacher pipeline on length-sorted batches, no gradients): in one process with
every thread, or in worker processes with one share of the threads each. Each one's
labels are compared with the fp32 one-process labels (argmax agreement, mean |ΔP|).
The bare forward pass replays exactly the tensors the fp32 pipeline fed its Hugging
Face model (a forward pre-hook records every call), so its ratio to the pipeline is
what spaCy adds around the model. Worker start-up (loading the teacher) is not timed:
a real labelling run pays it once for tens of thousands of docs.
"""
import json
import multiprocessing
import random
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List

import numpy
import typer
from spacy.tokens import DocBin
from wasabi import msg

from scripts.shared.cli_support import InputError, require, run_cli
from scripts.teacher.teacher_runtime import (RUNTIMES, agreement_figures, init_worker, load_teacher, predict_probs, save_scales,
                             smoothing_scales, transformer_shims, unsupported_reason, worker_predict)


def in_workers(teacher_path: Path, runtime: str, scales, texts: List[str], batch_size: int, workers: int,
               threads: int):
    """(labels, probs, seconds) for `texts` labelled by `workers` processes, start-up not timed."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker,
                             initargs=(str(teacher_path), runtime, scales and str(scales), threads)) as pool:
        list(pool.map(worker_predict, [texts[:batch_size]] * workers, [batch_size] * workers))  # start + warm up
        # interleaved slices keep each worker's share of long and short docs alike
        parts = [texts[i::4 * workers] for i in range(4 * workers)]
        start = time.perf_counter()
        results = list(pool.map(worker_predict, parts, [batch_size] * len(parts)))
        seconds = time.perf_counter() - start
    probs = numpy.zeros((len(texts), len(results[0][0])))
    for i, (_, part_probs) in enumerate(results):
        probs[i::4 * workers] = part_probs
    return results[0][0], probs, seconds


def main(
    teacher_path: Path = typer.Argument(...),
    docs_path: Path = typer.Argument(..., help="Docs like those labelled (.spacy)"),
    output_path: Path = typer.Argument(...),
    n_docs: int = typer.Option(1000, help="Docs sampled for the benchmark"),
    batch_size: int = typer.Option(64),
    workers: str = typer.Option("1,2", help="Process counts to try, comma-separated"),
    runtimes: str = typer.Option(",".join(RUNTIMES), help="Runtimes to try (those this CPU cannot run fast "
                                 "are skipped, with the reason)"),
    seed: int = typer.Option(0),
):
    import torch

    require(teacher_path, "the trained teacher", "teacher")
    require(docs_path, "the synthetic docs", "augment")
    try:
        worker_counts = sorted({int(w) for w in workers.split(",") if w.strip()})
    except ValueError:
        worker_counts = []
    if not worker_counts or min(worker_counts) < 1:
        raise InputError(f"workers '{workers}': give process counts of 1 or more, e.g. 1,2")
    wanted = [r.strip() for r in runtimes.split(",") if r.strip()]
    unknown = [r for r in wanted if r not in RUNTIMES]
    if unknown or not wanted:
        raise InputError(f"runtimes '{runtimes}': choose from {', '.join(RUNTIMES)}")
    threads = torch.get_num_threads()
    import spacy

    texts = [d.text for d in DocBin().from_disk(docs_path).get_docs(spacy.blank("xx").vocab)]
    shuffled = random.Random(seed).sample(texts, len(texts))
    texts, calibration = shuffled[:n_docs], shuffled[n_docs:n_docs + 200] or shuffled[:n_docs]
    result: Dict = {"n_docs": len(texts), "batch_size": batch_size, "threads": threads,
                    "mean_chars": float(numpy.mean([len(t) for t in texts])), "configurations": {}, "skipped": {}}

    # fp32 in one process first: the reference labels, and the model calls the bare pass replays
    teacher = load_teacher(teacher_path, "fp32")
    scales = output_path.with_name(output_path.stem + ".int8.npz")
    if "int8" in wanted and not unsupported_reason("int8"):  # int8's smoothing, measured on other docs
        save_scales(smoothing_scales(teacher, calibration, batch_size=batch_size), scales)
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
        for count in worker_counts:
            name = f"{runtime} x{count}"
            if runtime == "fp32" and count == 1:
                probs, seconds = reference, fp32_seconds
            elif count == 1:
                model = load_teacher(teacher_path, runtime, scales if runtime == "int8" else None)
                predict_probs(model, texts[:batch_size], batch_size)  # warm-up
                start = time.perf_counter()
                _, probs = predict_probs(model, texts, batch_size)
                seconds = time.perf_counter() - start
            else:
                _, probs, seconds = in_workers(teacher_path, runtime, scales if runtime == "int8" else None,
                                               texts, batch_size, count,
                                               max(1, threads // count))
            entry = {"runtime": runtime, "workers": count, "threads_per_worker": max(1, threads // count),
                     "docs_per_sec": len(texts) / seconds, **agreement_figures(reference, probs)}
            result["configurations"][name] = entry
            msg.info(f"{name}: {entry['docs_per_sec']:.1f} docs/s, {100 * entry['agreement']:.2f}% agreement "
                     "with fp32")
    base = result["configurations"]["fp32 x1"]["docs_per_sec"] if "fp32 x1" in result["configurations"] \
        else len(texts) / fp32_seconds
    for entry in result["configurations"].values():
        entry["speedup_vs_fp32_pipeline"] = entry["docs_per_sec"] / base
    result["ratio_pipeline_to_bare"] = (len(texts) / fp32_seconds) / result["bare_forward_fp32"]["docs_per_sec"]
    rows = [(name, f"{e['docs_per_sec']:.1f}", f"{e['speedup_vs_fp32_pipeline']:.2f}x",
             f"{100 * e['agreement']:.2f}", f"{e['mean_abs_dp']:.4f}") for name, e in result["configurations"].items()]
    rows.append(("bare forward fp32", f"{result['bare_forward_fp32']['docs_per_sec']:.1f}",
                 f"{result['bare_forward_fp32']['docs_per_sec'] / base:.2f}x", "-", "-"))
    msg.table(rows, header=("configuration", "docs/s", "vs fp32", "agree %", "mean |dP|"), divider=True)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(result, indent=2))
    msg.good(f"Wrote {output_path}")


if __name__ == "__main__":
    run_cli(main, settings=("label",))
