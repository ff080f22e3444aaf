"""Have the teacher label docs with its probabilities, as float cats, resumably.

Two kinds of input:
  - a .spacy file (the synthetic set, the training reviews): its docs are sorted by
    length so each batch pads little, labelled in chunks, and merged, in input order,
    into OUTPUT (.spacy);
  - a text file, one text per line (the corpus step's unlabelled.txt, any size): read
    one chunk at a time and never held whole, each labelled chunk kept as a file in the
    folder OUTPUT, which the student's reader takes as it is. Memory does not grow with
    the file.
Chunks are written atomically next to a manifest naming the teacher, the input and the
settings; an interrupted run skips the chunks already on disk, so no doc is lost or
labelled twice. OUTPUT.labelling.json (or OUTPUT/labelling.json) records what made the
labels. The teacher runs in the runtime the `teacher-runtime` step chose behind its
quality gate (only the transformer's forward pass changes), without gradients.
"""
import itertools
import json
import os
from pathlib import Path
from typing import Iterator, List

import spacy
import typer
from spacy.tokens import Doc, DocBin
from tqdm import tqdm
from wasabi import msg

from scripts.teacher.temperature import apply_temperature
from scripts.shared.cli_support import InputError, require, require_gpu, run_cli, sha256_of
from scripts.shared.fingerprint import folder_fingerprint
from scripts.teacher.teacher_runtime import RUNTIMES, load_teacher, predict_probs, read_chosen_runtime


def chunk_path(chunk_dir: Path, index: int) -> Path:
    return chunk_dir / f"chunk-{index:05d}.spacy"


MANIFEST = "manifest.json"


def labeller_files(chunk_dir: Path) -> List[Path]:
    """The files this script writes in a chunk folder: its manifest, chunks and half-written chunks."""
    return [p for p in chunk_dir.iterdir()
            if p.name in (MANIFEST, "labelling.json") or (p.name.startswith("chunk-") and p.suffix in (".spacy", ".tmp"))]


def remove_labeller_files(chunk_dir: Path) -> None:
    """Delete what the labeller wrote, and the folder only if nothing else is left in it."""
    for path in labeller_files(chunk_dir):
        path.unlink()
    if not any(chunk_dir.iterdir()):
        chunk_dir.rmdir()


def prepare_chunk_dir(chunk_dir: Path, manifest: dict) -> None:
    """Keep finished chunks only if they were made by this very teacher, input and settings.

    Only files the labeller wrote are ever deleted: a folder with other files in it and no
    manifest of ours is refused, never emptied."""
    manifest_path = chunk_dir / MANIFEST
    if manifest_path.exists():
        try:
            old = json.loads(manifest_path.read_text())
        except json.JSONDecodeError:
            old = {}
        changed = [key for key in manifest if old.get(key) != manifest[key]]
        if changed:
            msg.warn(f"{chunk_dir}: chunks from an earlier run with another {', '.join(changed)}; "
                     "discarding them and labelling afresh")
            for path in labeller_files(chunk_dir):
                path.unlink()
    elif chunk_dir.exists():
        if not chunk_dir.is_dir():
            raise InputError(f"{chunk_dir}: chunk-dir is a file, not a folder; pass a new folder with --chunk-dir")
        others = [p.name for p in chunk_dir.iterdir()]
        if others:
            raise InputError(f"{chunk_dir}: chunk-dir holds files the labeller did not write ({', '.join(sorted(others)[:3])}"
                             f"{', ...' if len(others) > 3 else ''}); pass an empty or new folder with --chunk-dir")
    chunk_dir.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=2))


def write_atomically(db: DocBin, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    db.to_disk(tmp)
    os.replace(tmp, path)  # a chunk file exists only once it is complete


def read_temperature(value: str, temperature_file: Path) -> float:
    """A number, or "fitted": the temperature the calibrate step fitted on dev."""
    if value == "fitted":
        if temperature_file is None:
            raise InputError("temperature 'fitted' needs --temperature-file (the JSON calibrate_teacher.py writes); "
                             "pass it, or give a number such as 1.0")
        data = require(temperature_file, "the fitted temperature", "calibrate-teacher").read_text()
        return float(json.loads(data)["temperature"])
    try:
        temperature = float(value)
    except ValueError:
        temperature = 0.0
    if not temperature > 0:
        raise InputError(f"temperature '{value}': give a number above 0 (1 keeps the teacher's probabilities) "
                         "or 'fitted'; fix temperature in label.cfg of the settings folder (var settings)")
    return temperature


def text_chunks(path: Path, chunk_size: int) -> Iterator[List[str]]:
    """The lines of a text file (one text each, blank lines skipped), chunk_size at a time."""
    with path.open(encoding="utf-8") as f:
        texts = (line.strip() for line in f)
        while True:
            chunk = list(itertools.islice((t for t in texts if t), chunk_size))
            if not chunk:
                return
            yield chunk


def teacher_probs(teacher, texts: List[str], batch_size: int, temperature: float):
    """(labels, probabilities) of the teacher for `texts`, the temperature applied."""
    labels, probs = predict_probs(teacher, texts, batch_size)
    return labels, apply_temperature(probs, temperature)


def text_docs(vocab, texts: List[str], labels: List[str], probs) -> DocBin:
    """Docs of one-line texts (split at single spaces, so doc.text is the text) with their cats."""
    db = DocBin(store_user_data=True)
    for text, p in zip(texts, probs):
        words = text.split(" ")
        doc = Doc(vocab, words=words, spaces=[True] * (len(words) - 1) + [False])
        doc.cats = {label: float(x) for label, x in zip(labels, p)}
        db.add(doc)
    return db


def main(
    teacher_path: Path = typer.Argument(..., help="The teacher pipeline"),
    input_path: Path = typer.Argument(..., help="Docs to label: .spacy, or a text file with one text per line"),
    output_path: Path = typer.Argument(..., help="Labelled docs: a .spacy file, or for a text file a folder of chunks"),
    chunk_dir: Path = typer.Option(None, help="Where .spacy chunks are kept until the merge; default OUTPUT.chunks"),
    chunk_size: int = typer.Option(1000, help="Docs per chunk file"),
    batch_size: int = typer.Option(64, help="Docs per teacher batch"),
    runtime: str = typer.Option("fp32", help="The teacher's forward pass: fp32 or bf16"),
    runtime_file: Path = typer.Option(None, help="Use the runtime choose_runtime.py chose (overrides --runtime)"),
    gpu_id: int = typer.Option(-1, help="GPU to run the teacher on; -1 for CPU"),
    temperature: str = typer.Option("1.0", help="Divide the teacher's log-probabilities by this; 'fitted' reads "
                                    "--temperature-file"),
    temperature_file: Path = typer.Option(None, help="JSON from calibrate_teacher.py"),
):
    require(teacher_path, "the teacher", "teacher")
    require(input_path, "the docs to label", "corpus" if input_path.suffix != ".spacy" else "augment")
    if chunk_size < 1 or batch_size < 1:
        raise InputError(f"chunk-size and batch-size must be at least 1, got {chunk_size} and {batch_size}; fix the "
                         "options or batch_size in label.cfg of the settings folder")
    if runtime_file is not None:
        runtime = read_chosen_runtime(runtime_file)
    elif runtime not in RUNTIMES:
        raise InputError(f"runtime '{runtime}': choose {' or '.join(RUNTIMES)}, or pass --runtime-file")
    temperature_value = read_temperature(temperature, temperature_file)
    require_gpu(gpu_id)
    manifest = {"teacher": folder_fingerprint(teacher_path), "input": sha256_of(input_path),
                "chunk_size": chunk_size, "batch_size": batch_size, "temperature": temperature_value,
                "runtime": runtime}
    record = {"teacher": str(teacher_path), "runtime": runtime, "temperature": temperature_value,
              "input": str(input_path)}
    vocab = spacy.blank("xx").vocab
    if input_path.suffix != ".spacy":
        prepare_chunk_dir(output_path, manifest)
        # a first pass counts the chunks (cheap), so that the teacher loads, or fails in one
        # line, before any work starts, and not at all when every chunk is already there
        n_chunks = sum(1 for _ in text_chunks(input_path, chunk_size))
        done = sum(chunk_path(output_path, i).exists() for i in range(n_chunks))
        teacher = load_teacher(teacher_path, runtime) if done < n_chunks else None
        if done:
            msg.info(f"Resumed: {done} chunks were already labelled")
        n_docs = 0
        with tqdm(unit="docs", desc="label", smoothing=0.1) as bar:
            for index, texts in enumerate(text_chunks(input_path, chunk_size)):
                n_docs += len(texts)
                if not chunk_path(output_path, index).exists():
                    labels, probs = teacher_probs(teacher, texts, batch_size, temperature_value)
                    write_atomically(text_docs(vocab, texts, labels, probs), chunk_path(output_path, index))
                bar.update(len(texts))
        (output_path / "labelling.json").write_text(json.dumps({**record, "n_docs": n_docs}, indent=2))
        msg.good(f"Labelled {n_docs} texts into {output_path}/ with the {runtime} teacher (temperature "
                 f"{temperature_value:.2f})")
        return
    chunk_dir = chunk_dir or output_path.with_suffix(".chunks")
    docs = list(DocBin().from_disk(input_path).get_docs(vocab))
    order = sorted(range(len(docs)), key=lambda i: (len(docs[i].text), i))
    chunks = [order[start:start + chunk_size] for start in range(0, len(order), chunk_size)]
    prepare_chunk_dir(chunk_dir, {**manifest, "n_docs": len(docs)})
    done = [i for i in range(len(chunks)) if chunk_path(chunk_dir, i).exists()]
    if done:
        msg.info(f"Resuming: {len(done)} of {len(chunks)} chunks already labelled")
    # loaded before any work is announced: a teacher that cannot load fails here in one line
    teacher = load_teacher(teacher_path, runtime) if len(done) < len(chunks) else None
    msg.info(f"Labelling {len(docs)} docs with the {runtime} teacher")
    with tqdm(total=len(docs), initial=sum(len(chunks[i]) for i in done), unit="docs",
              desc="label", smoothing=0.1) as bar:
        for index in range(len(chunks)):
            if index in done:
                continue
            labels, probs = teacher_probs(teacher, [docs[i].text for i in chunks[index]], batch_size,
                                          temperature_value)
            db = DocBin(store_user_data=True)
            for i, p in zip(chunks[index], probs):
                docs[i].cats = {label: float(x) for label, x in zip(labels, p)}
                docs[i].user_data["input_index"] = i
                db.add(docs[i])
            write_atomically(db, chunk_path(chunk_dir, index))
            bar.update(len(chunks[index]))
    labelled = {}
    for index in range(len(chunks)):
        for doc in DocBin().from_disk(chunk_path(chunk_dir, index)).get_docs(vocab):
            labelled[doc.user_data.pop("input_index")] = doc
    if sorted(labelled) != list(range(len(docs))):
        raise InputError(f"{chunk_dir}: chunks do not cover the input exactly; delete the folder and rerun")
    merged = DocBin(store_user_data=True)
    for i in range(len(docs)):
        labelled[i].user_data["teacher_runtime"] = runtime
        merged.add(labelled[i])
    output_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(merged, output_path)
    write_labelling_record(output_path, {**record, "n_docs": len(docs)})
    remove_labeller_files(chunk_dir)
    means = {label: sum(d.cats.get(label, 0.0) for d in labelled.values()) / max(1, len(docs))
             for label in (next(iter(labelled.values())).cats if labelled else {})}
    msg.good(f"Labelled {len(docs)} docs into {output_path} with the {runtime} teacher (mean "
             + ", ".join(f"P({k}) {v:.3f}" for k, v in means.items()) + f"; temperature {temperature_value:.2f})")


def labelling_record_path(output_path: Path) -> Path:
    return output_path.with_name(output_path.stem + ".labelling.json")


def write_labelling_record(output_path: Path, record: dict) -> None:
    """What made the labels (teacher, runtime), next to them for evaluate and report."""
    labelling_record_path(output_path).write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    run_cli(main, settings=("label",))
