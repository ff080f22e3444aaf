"""Read labelled reviews from JSONL or CSV into one normalised form.

A review becomes {"text", "label", "lang", "source", optional "stars"}. The label set
comes from the data. A file whose labels are all sentiment spellings (pos/positive/1/+1,
neg/negative/-1/0) is read as POS/NEG, as the project's own files are; any other label
set is kept as written (e.g. POS/NEG/NONE), one class per value. Stars 1-2 are NEG, 4-5
POS and 3 is dropped and counted, or, with `star_classes`, each star count is a class
of its own (1_STAR ... 5_STARS). Every problem a user can fix raises `InputError`
naming the file, the line, and the fix.
"""
import csv
import html
import io
import json
import math
from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from scripts.shared.cli_support import InputError

BINARY_LABELS = ("POS", "NEG")  # the order every binary run has used (splits draw POS first)
LABEL_ALIASES = {
    "pos": "POS", "positive": "POS", "1": "POS", "+1": "POS",
    "neg": "NEG", "negative": "NEG", "-1": "NEG", "0": "NEG",
}


def clean_text(text: str) -> str:
    """Undo HTML entities and collapse whitespace (reviews span several lines)."""
    return " ".join(html.unescape(text).split())


def decode_utf8(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError(
            f"{path}:{line}: bytes that are not UTF-8 (byte 0x{data[err.start]:02x}); "
            "re-save the file as UTF-8"
        ) from None


def is_sentiment(labels) -> bool:
    """A POS/NEG run: the one label set with figures of its own (P(POS), its share)."""
    return list(labels) == list(BINARY_LABELS)


def star_class(stars: int) -> str:
    return f"{stars}_STAR" + ("S" if stars > 1 else "")


def label_order(labels) -> List[str]:
    """The classes of a run in a fixed order: POS, NEG for sentiment; otherwise sorted."""
    found = set(labels)
    return list(BINARY_LABELS) if found == set(BINARY_LABELS) else sorted(found)


def label_from_stars(value, where: str, star_classes: bool = False) -> Optional[str]:
    """NEG for 1-2, POS for 4-5, None (dropped) for 3; with star_classes, one class per star count."""
    try:
        stars = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int too big for a float
        stars = None
    if (stars is None or isinstance(value, bool) or not math.isfinite(stars)
            or stars != int(stars) or not 1 <= stars <= 5):
        raise InputError(
            f"{where}: stars must be a whole number from 1 to 5, got {value!r}; "
            "fix the value or remove the row"
        )
    if star_classes:
        return star_class(int(stars))
    if stars == 3:
        return None
    return "NEG" if stars < 3 else "POS"


def label_as_written(value, where: str) -> str:
    if isinstance(value, (dict, list)):
        raise InputError(f"{where}: the label must be one value (a class name), got {type(value).__name__}; "
                         "fix the row")
    label = str(value).strip()
    if not label:
        raise InputError(f"{where}: empty label; give the class name or 'stars' instead")
    return label


def normalise_labels(reviews: List[Dict]) -> None:
    """Sentiment spellings become POS/NEG when every label of the file is one of them
    (a file of 0/1/2 keeps three classes rather than mapping 0 and 1 to NEG and POS)."""
    if all(r["label"].lower() in LABEL_ALIASES for r in reviews if "stars" not in r):
        for review in reviews:
            review["label"] = LABEL_ALIASES.get(review["label"].lower(), review["label"])


def make_review(row: Dict, where: str, lang: str, source: str, star_classes: bool = False) -> Optional[Dict]:
    """Validate one raw row; None means a 3-star row to drop. A `label` is kept as written
    (normalise_labels maps a file's sentiment spellings)."""
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: missing or empty 'text'; every row needs the review text")
    review = {"text": clean_text(text), "lang": row.get("lang") or lang,
              "source": row.get("source") or source}
    stars = row.get("stars")
    if stars not in (None, ""):
        label = label_from_stars(stars, where, star_classes)
        if label is None:
            return None
        review["stars"] = int(float(stars))
    elif row.get("label") not in (None, ""):
        label = label_as_written(row["label"], where)
    else:
        raise InputError(f"{where}: no 'stars' and no 'label'; give one of them for every row")
    review["label"] = label
    return review


def iter_rows(path: Path) -> Iterator[Tuple[str, Dict]]:
    """Yield (location, row dict) from a JSONL or CSV file."""
    if not path.exists():
        raise InputError(f"{path}: no such file; check the reviews path (var 'reviews')")
    if not path.is_file():
        raise InputError(f"{path}: a directory, not a file; point the var 'reviews' at one .jsonl or .csv file")
    text = decode_utf8(path)
    if path.suffix.lower() in (".jsonl", ".json"):
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(
                    f"{where}: malformed JSON ({err.msg} at column {err.colno}); "
                    "each line must be one JSON object"
                ) from None
            if not isinstance(row, dict):
                raise InputError(f"{where}: expected a JSON object per line, got {type(row).__name__}")
            yield where, row
    elif path.suffix.lower() in (".csv", ".tsv"):
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        # strict: an unterminated quote is an error, not one giant field swallowing the rest
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        columns = set(reader.fieldnames or [])
        if "text" not in columns or not columns & {"stars", "label"}:
            raise InputError(
                f"{path}:1: the header has columns {sorted(columns)}, but needs 'text' plus "
                "'stars' or 'label'; add a header line such as text,stars"
            )
        start = 2
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise InputError(
                    f"{path}:{start}: broken CSV quoting ({err}); a field that opens a quote must close it, "
                    'and quotes inside a quoted field are doubled ("")'
                ) from None
            yield f"{path}:{start}", row
            start = reader.line_num + 1
    else:
        raise InputError(f"{path}: unsupported file type '{path.suffix}'; use .jsonl or .csv")


def read_reviews(path: Path, lang: str, source: Optional[str] = None,
                 star_classes: bool = False) -> Tuple[List[Dict], Counter]:
    """All valid reviews of a file plus counts of dropped rows by reason."""
    dropped: Counter = Counter()
    reviews = []
    for where, row in iter_rows(path):
        review = make_review(row, where, lang, source or path.name, star_classes)
        if review is None:
            dropped["three_stars"] += 1
        else:
            reviews.append(review)
    normalise_labels(reviews)
    return reviews, dropped


def read_unlabelled(path: Path) -> List[str]:
    """Unlabelled texts: JSONL rows with a `text` field (any label is ignored), or one text per line."""
    if not path.exists():
        raise InputError(f"{path}: no such file; check the var unlabelled (a .jsonl or .txt file, 'rest' or '')")
    if not path.is_file():
        raise InputError(f"{path}: a directory, not a file; point the var unlabelled at one .jsonl or .txt file")
    if path.suffix.lower() in (".jsonl", ".json"):
        texts = []
        for where, row in iter_rows(path):
            text = row.get("text")
            if not isinstance(text, str):
                raise InputError(f"{where}: no 'text' string; every row of an unlabelled JSONL file needs one")
            texts.append(clean_text(text))
    else:
        texts = [clean_text(line) for line in decode_utf8(path).splitlines()]
    texts = [t for t in texts if t]
    if not texts:
        raise InputError(f"{path}: the file is empty (no texts); add texts or set the var unlabelled to ''")
    return texts


def write_jsonl(path: Path, rows: List[Dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
