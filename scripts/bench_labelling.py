"""Labelling throughput: the teacher pipeline against a bare transformers forward pass.

The labeller's path (the teacher pipeline on length-sorted batches, no gradients) is
timed against bare calls of the same Hugging Face model on exactly the tensors that
path feeds it: a forward pre-hook records every call once, and the bare run replays
them. So both do the same model work on the same batches, and the ratio is what spaCy
adds (tokenizing, windows, alignment, the textcat head). Rounds are interleaved and
the median is reported.
"""
import json
import random
import time
from pathlib import Path

import numpy
import spacy
import typer
from spacy.tokens import DocBin
from wasabi import msg

import distillation  # noqa: F401  (registers the scorer the teacher names)
from cli_support import require, run_cli


def main(
    teacher_path: Path = typer.Argument(...),
    docs_path: Path = typer.Argument(..., help="Docs like those labelled (.spacy)"),
    output_path: Path = typer.Argument(...),
    n_docs: int = typer.Option(1000, help="Docs sampled for the benchmark"),
    batch_size: int = typer.Option(64),
    rounds: int = typer.Option(3),
    seed: int = typer.Option(0),
):
    import torch

    require(teacher_path, "the trained teacher", "train-teacher")
    require(docs_path, "the synthetic docs", "augment")
    teacher = spacy.load(teacher_path)
    trf = teacher.get_pipe("transformer").model
    hf_model = trf.transformer
    texts = [d.text for d in DocBin().from_disk(docs_path).get_docs(teacher.vocab)]
    texts = sorted(random.Random(seed).sample(texts, min(n_docs, len(texts))), key=len)
    batches = [texts[i:i + batch_size] for i in range(0, len(texts), batch_size)]

    def run_spacy():
        with torch.no_grad():
            for batch in batches:
                list(teacher.pipe(batch, batch_size=batch_size))

    calls = []
    hook = hf_model.register_forward_pre_hook(lambda m, args, kwargs: calls.append((args, kwargs)),
                                              with_kwargs=True)
    run_spacy()  # records the model calls; also the warm-up
    hook.remove()

    def run_bare():
        hf_model.eval()  # thinc's predict puts the model back in train mode when it returns
        with torch.no_grad():
            for args, kwargs in calls:
                hf_model(*args, **kwargs)

    timings = {"spacy_pipeline": [], "bare_transformers": []}
    runners = {"spacy_pipeline": run_spacy, "bare_transformers": run_bare}
    run_bare()  # warm-up
    order = list(runners)
    for r in range(rounds):
        random.Random(seed + r).shuffle(order)
        for name in order:
            start = time.perf_counter()
            runners[name]()
            timings[name].append(time.perf_counter() - start)
        msg.info(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {len(texts) / v[-1]:.1f} docs/s" for k, v in timings.items()))
    docs_per_sec = {name: len(texts) / float(numpy.median(t)) for name, t in timings.items()}
    result = {"n_docs": len(texts), "batch_size": batch_size, "rounds": rounds,
              "docs_per_sec": docs_per_sec, "seconds": timings,
              "ratio_spacy_to_bare": docs_per_sec["spacy_pipeline"] / docs_per_sec["bare_transformers"],
              "model_calls": len(calls),
              "torch_threads": torch.get_num_threads()}
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(result, indent=2))
    msg.good(f"spaCy labelling runs at {100 * result['ratio_spacy_to_bare']:.1f}% of a bare forward pass "
             f"({docs_per_sec['spacy_pipeline']:.1f} vs {docs_per_sec['bare_transformers']:.1f} docs/s); "
             f"wrote {output_path}")


if __name__ == "__main__":
    run_cli(main)
