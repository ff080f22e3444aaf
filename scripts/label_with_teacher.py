"""Have the teacher label docs with its probabilities, as float cats, resumably.

Docs are sorted by length so each batch pads little, and labelled without gradients.
Output goes to numbered chunk files written atomically, next to a manifest naming
the input; an interrupted run skips the chunks already on disk, so no doc is lost or
labelled twice. When all chunks exist they are merged, in input order, into the output.
"""
import json
import os
import shutil
from pathlib import Path
from typing import List

import spacy
import typer
from spacy.tokens import Doc, DocBin
from tqdm import tqdm
from wasabi import msg

import distillation  # noqa: F401  (registers the scorer the trained pipelines name)
from cli_support import InputError, require, require_gpu, run_cli, sha256_of


def folder_fingerprint(folder: Path) -> str:
    """sha256 over every file's relative path and contents: a retrained teacher differs."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + sha256_of(path).encode())
    return digest.hexdigest()


def chunk_path(chunk_dir: Path, index: int) -> Path:
    return chunk_dir / f"chunk-{index:05d}.spacy"


def prepare_chunk_dir(chunk_dir: Path, manifest: dict) -> None:
    """Keep finished chunks only if they were made by this very teacher, input and settings."""
    manifest_path = chunk_dir / "manifest.json"
    if manifest_path.exists():
        try:
            old = json.loads(manifest_path.read_text())
        except json.JSONDecodeError:
            old = {}
        changed = [key for key in manifest if old.get(key) != manifest[key]]
        if changed:
            msg.warn(f"{chunk_dir}: chunks from an earlier run with another {', '.join(changed)}; "
                     "discarding them and labelling afresh")
            shutil.rmtree(chunk_dir)
    elif chunk_dir.exists():
        shutil.rmtree(chunk_dir)  # chunks without a manifest cannot be trusted
    chunk_dir.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=2))


def write_atomically(db: DocBin, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    db.to_disk(tmp)
    os.replace(tmp, path)  # a chunk file exists only once it is complete


def label_docs(teacher, docs: List[Doc], batch_size: int, temperature: float) -> None:
    import numpy
    import torch

    with torch.no_grad():
        for doc, scored in zip(docs, teacher.pipe((d.text for d in docs), batch_size=batch_size)):
            labels = list(scored.cats)
            p = numpy.array([scored.cats[label] for label in labels], dtype="float64")
            if temperature != 1.0:
                logp = numpy.log(numpy.clip(p, 1e-13, 1.0)) / temperature
                p = numpy.exp(logp - logp.max())
            doc.cats = {label: float(x) for label, x in zip(labels, p / p.sum())}


def read_temperature(value: str, temperature_file: Path) -> float:
    """A number, or "fitted": the temperature the calibrate step fitted on dev."""
    if value == "fitted":
        data = require(temperature_file, "the fitted temperature", "calibrate-teacher").read_text()
        return float(json.loads(data)["temperature"])
    try:
        temperature = float(value)
    except ValueError:
        temperature = 0.0
    if not temperature > 0:
        raise InputError(f"temperature '{value}': give a number above 0 (1 keeps the teacher's probabilities) "
                         "or 'fitted'; fix the var teacher_temperature")
    return temperature


def main(
    teacher_path: Path = typer.Argument(..., help="The fine-tuned teacher pipeline"),
    input_path: Path = typer.Argument(..., help="Docs to label (.spacy)"),
    output_path: Path = typer.Argument(..., help="Labelled docs (.spacy)"),
    chunk_dir: Path = typer.Option(None, help="Where chunks are kept until the merge; default OUTPUT.chunks"),
    chunk_size: int = typer.Option(1000, help="Docs per chunk file"),
    batch_size: int = typer.Option(64, help="Docs per teacher batch"),
    gpu_id: int = typer.Option(-1, help="GPU to run the teacher on; -1 for CPU"),
    temperature: str = typer.Option("1.0", help="Divide the teacher's log-probabilities by this; 'fitted' reads "
                                    "--temperature-file"),
    temperature_file: Path = typer.Option(None, help="JSON from calibrate_teacher.py"),
):
    require(teacher_path, "the trained teacher", "train-teacher")
    require(input_path, "the docs to label", "augment")
    if chunk_size < 1 or batch_size < 1:
        raise InputError(f"chunk-size and batch-size must be at least 1, got {chunk_size} and {batch_size}")
    temperature_value = read_temperature(temperature, temperature_file)
    require_gpu(gpu_id)
    chunk_dir = chunk_dir or output_path.with_suffix(".chunks")
    teacher = spacy.load(teacher_path)
    docs = list(DocBin().from_disk(input_path).get_docs(teacher.vocab))
    order = sorted(range(len(docs)), key=lambda i: (len(docs[i].text), i))
    chunks = [order[start:start + chunk_size] for start in range(0, len(order), chunk_size)]
    prepare_chunk_dir(chunk_dir, {"teacher": folder_fingerprint(teacher_path), "input": sha256_of(input_path),
                                  "n_docs": len(docs), "chunk_size": chunk_size, "batch_size": batch_size,
                                  "temperature": temperature_value})
    done = [i for i in range(len(chunks)) if chunk_path(chunk_dir, i).exists()]
    if done:
        msg.info(f"Resuming: {len(done)} of {len(chunks)} chunks already labelled")
    with tqdm(total=len(docs), initial=sum(len(chunks[i]) for i in done), unit="docs",
              desc="label", smoothing=0.1) as bar:
        for index, members in enumerate(chunks):
            if index in done:
                continue
            batch = [docs[i] for i in members]
            label_docs(teacher, batch, batch_size, temperature_value)
            db = DocBin(store_user_data=True)
            for i, doc in zip(members, batch):
                doc.user_data["input_index"] = i
                db.add(doc)
            write_atomically(db, chunk_path(chunk_dir, index))
            bar.update(len(members))
    labelled = {}
    for index in range(len(chunks)):
        for doc in DocBin().from_disk(chunk_path(chunk_dir, index)).get_docs(teacher.vocab):
            labelled[doc.user_data.pop("input_index")] = doc
    if sorted(labelled) != list(range(len(docs))):
        raise InputError(f"{chunk_dir}: chunks do not cover the input exactly; delete the folder and rerun")
    merged = DocBin(store_user_data=True)
    for i in range(len(docs)):
        merged.add(labelled[i])
    output_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(merged, output_path)
    shutil.rmtree(chunk_dir)
    mean_pos = sum(d.cats.get("POS", 0.0) for d in labelled.values()) / max(1, len(docs))
    msg.good(f"Labelled {len(docs)} docs into {output_path} (mean P(POS) {mean_pos:.3f}, temperature "
             f"{temperature_value:.2f})")


if __name__ == "__main__":
    run_cli(main)
