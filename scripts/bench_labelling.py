"""Labelling throughput: the teacher pipeline against a bare transformers forward pass.

Both run the same fine-tuned weights on the same texts in the same length-sorted
batches, without gradients, in interleaved rounds (median reported). The bare pass
tokenizes with the teacher's own tokenizer and calls the Hugging Face model directly:
it is the floor that spaCy's alignment and strided windows add their overhead to.
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
from cli_support import InputError, run_cli


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

    for path in (teacher_path, docs_path):
        if not path.exists():
            raise InputError(f"{path}: missing; run the steps before this benchmark first")
    teacher = spacy.load(teacher_path)
    trf = teacher.get_pipe("transformer").model
    tokenizer, hf_model = trf.tokenizer, trf.transformer
    hf_model.eval()
    texts = [d.text for d in DocBin().from_disk(docs_path).get_docs(teacher.vocab)]
    texts = sorted(random.Random(seed).sample(texts, min(n_docs, len(texts))), key=len)
    batches = [texts[i:i + batch_size] for i in range(0, len(texts), batch_size)]
    max_length = min(512, tokenizer.model_max_length)

    def run_spacy():
        with torch.no_grad():
            for batch in batches:
                list(teacher.pipe(batch, batch_size=batch_size))

    def run_bare():
        with torch.no_grad():
            for batch in batches:
                enc = tokenizer(batch, padding="longest", truncation=True, max_length=max_length,
                                return_tensors="pt")
                hf_model(**enc)

    timings = {"spacy_pipeline": [], "bare_transformers": []}
    runners = {"spacy_pipeline": run_spacy, "bare_transformers": run_bare}
    run_spacy(), run_bare()  # warm-up
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
              "torch_threads": torch.get_num_threads()}
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(result, indent=2))
    msg.good(f"spaCy labelling runs at {100 * result['ratio_spacy_to_bare']:.1f}% of a bare forward pass "
             f"({docs_per_sec['spacy_pipeline']:.1f} vs {docs_per_sec['bare_transformers']:.1f} docs/s); "
             f"wrote {output_path}")


if __name__ == "__main__":
    run_cli(main)
