"""Read labelled reviews from JSONL, CSV or TSV into one normalised form.

A review becomes {"text", "label", "lang", "source", optional "stars"}. The columns (or
JSON fields) that hold the text and the label are named by `Columns` (vars
`text_column`, `label_column`); a `stars` column (1-5) is read when the label column is
absent or is itself named `stars`. An optional label map (var `label_map`, e.g.
`positive=POS,negative=NEG,neutral=`) turns each raw value into a class, and a value
mapped to nothing drops the row. Without a map, a file whose labels are all sentiment
spellings (pos/positive/1/+1, neg/negative/-1/0) is read as POS/NEG, as the project's
own files are; any other label set is kept as written (e.g. POS/NEG/NONE), one class
per value. Stars 1-2 are NEG, 4-5 POS and 3 is dropped and counted, or, with
`star_classes`, each star count is a class of its own (1_STAR ... 5_STARS).

Files are read line by line (an unlabelled file of any size streams through
`iter_texts`). Every problem a user can fix raises `InputError` naming the file, the
line, and the fix.
"""
import csv
import html
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from scripts.shared.cli_support import InputError

BINARY_LABELS = ("POS", "NEG")  # the order every binary run has used (splits draw POS first)
LABEL_ALIASES = {
    "pos": "POS", "positive": "POS", "1": "POS", "+1": "POS",
    "neg": "NEG", "negative": "NEG", "-1": "NEG", "0": "NEG",
}
SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")
# Where convert-reviews writes the project's own review files and extra test sets.
PROJECT_REVIEWS, PROJECT_EXTRA_TESTS = "assets/reviews/", "assets/extra_tests/"


def uses_project_data(reviews: str, train: str) -> bool:
    """Whether a run splits one of the project's own review files (not a file of yours)."""
    return not train and bool(reviews) and reviews.startswith(PROJECT_REVIEWS)


@dataclass(frozen=True)
class Columns:
    """Where a file keeps its text and label, and how raw labels become classes."""
    text: str = "text"
    label: str = "label"
    label_map: Dict[str, str] = field(default_factory=dict)  # raw value -> class; "" drops the row

    def map_label(self, raw: str, where: str) -> Optional[str]:
        if not self.label_map:
            return raw
        if raw not in self.label_map:
            raise InputError(f"{where}: label {raw!r} is not in the label map ({format_label_map(self.label_map)}); "
                             f"add it to the var label_map (e.g. {raw}=CLASS, or {raw}= to drop such rows)")
        return self.label_map[raw] or None


def parse_label_map(text: str) -> Dict[str, str]:
    """'positive=POS, negative=NEG, neutral=' -> {'positive': 'POS', 'negative': 'NEG', 'neutral': ''}."""
    mapping = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        raw, sep, label = item.partition("=")
        if not sep or not raw.strip():
            raise InputError(f"label_map {text!r}: {item!r} is not RAW=CLASS; write the var label_map as "
                             "positive=POS,negative=NEG (RAW= drops such rows)")
        mapping[raw.strip()] = label.strip()
    return mapping


def format_label_map(mapping: Dict[str, str]) -> str:
    return ",".join(f"{raw}={label}" for raw, label in mapping.items())


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


def make_review(row: Dict, where: str, lang: str, source: str, star_classes: bool = False,
                columns: Columns = Columns()) -> Optional[Dict]:
    """Validate one raw row; None means a row to drop (3 stars, or a label mapped to nothing).
    A label is kept as written unless a label map is given (normalise_labels maps a file's
    sentiment spellings)."""
    text = row.get(columns.text)
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: missing or empty {columns.text!r}; every row needs its text (var text_column)")
    review = {"text": clean_text(text), "lang": row.get("lang") or lang,
              "source": row.get("source") or source}
    # the default label column also takes a `stars` column (which wins, as it always has)
    stars = row.get("stars") if columns.label in ("label", "stars") else None
    label_value = row.get(columns.label)
    if stars not in (None, ""):
        label = label_from_stars(stars, where, star_classes)
        if label is None:
            return None
        review["stars"] = int(float(stars))
    elif label_value not in (None, "") and columns.label != "stars":
        label = columns.map_label(label_as_written(label_value, where), where)
        if label is None:
            return None
    else:
        raise InputError(f"{where}: no {columns.label!r} value" + (" and no 'stars'" if columns.label == "label" else "")
                         + "; give a label for every row (var label_column names its column)")
    review["label"] = label
    return review


def decoded_lines(path: Path) -> Iterator[Tuple[int, str]]:
    """(line number, text) of each line, read one at a time: memory does not grow with the file."""
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield n, raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise InputError(f"{path}:{n}: bytes that are not UTF-8 (byte 0x{raw[err.start]:02x}); "
                                 "re-save the file as UTF-8") from None


def check_file(path: Path, var: str) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path (var {var})")
    if not path.is_file():
        raise InputError(f"{path}: a directory, not a file; point the var {var} at one file")


def iter_rows(path: Path, columns: Columns = Columns(), var: str = "reviews",
              needs_label: bool = True) -> Iterator[Tuple[str, Dict]]:
    """Yield (location, row dict) from a JSONL, CSV or TSV file, one row at a time."""
    check_file(path, var)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        for n, line in decoded_lines(path):
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
            if columns.text not in row:
                raise InputError(f"{where}: no field {columns.text!r} (the row has {sorted(row)}); set the var "
                                 "text_column to the field that holds the text")
            yield where, row
    elif suffix in (".csv", ".tsv"):
        delimiter = "\t" if suffix == ".tsv" else ","
        lines = (line for _, line in decoded_lines(path))
        # strict: an unterminated quote is an error, not one giant field swallowing the rest
        reader = csv.DictReader(lines, delimiter=delimiter, strict=True)
        try:
            found = list(reader.fieldnames or [])
        except csv.Error as err:
            raise InputError(f"{path}:1: broken CSV header ({err}); the first line names the columns") from None
        if columns.text not in found:
            raise InputError(f"{path}:1: no column {columns.text!r} for the text; the file has columns {found}: "
                             "set the var text_column to one of them")
        if needs_label and columns.label not in found and not (columns.label == "label" and "stars" in found):
            raise InputError(f"{path}:1: no column {columns.label!r} for the label; the file has columns {found}: "
                             "set the var label_column to one of them")
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
        raise InputError(f"{path}: unsupported file type '{path.suffix}'; use .jsonl, .csv or .tsv (var {var})")


def first_fields(path: Path) -> List[str]:
    """The column names of a CSV/TSV file, or the fields of a JSONL file's first row."""
    for n, line in decoded_lines(path):
        if not line.strip():
            continue
        if path.suffix.lower() in (".csv", ".tsv"):
            return next(csv.reader([line], delimiter="\t" if path.suffix.lower() == ".tsv" else ","), [])
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            return []
        return list(row) if isinstance(row, dict) else []
    return []


def columns_for(path: Path, columns: Columns) -> Columns:
    """`columns`, or the project's own (text, label) for a file that has none of yours, such as
    the project's extra test sets beside a run on your own data."""
    fields = first_fields(path)
    return columns if columns.text in fields or "text" not in fields else Columns(label_map=columns.label_map)


def read_reviews(path: Path, lang: str, source: Optional[str] = None, star_classes: bool = False,
                 columns: Columns = Columns(), var: str = "reviews") -> Tuple[List[Dict], Counter]:
    """All valid reviews of a file plus counts of dropped rows by reason."""
    dropped: Counter = Counter()
    reviews = []
    for where, row in iter_rows(path, columns, var):
        review = make_review(row, where, lang, source or path.name, star_classes, columns)
        if review is None:
            dropped["three_stars" if row.get("stars") not in (None, "") else "label_mapped_to_nothing"] += 1
        else:
            reviews.append(review)
    if not columns.label_map:
        normalise_labels(reviews)
    return reviews, dropped


def iter_texts(path: Path, columns: Columns = Columns(), var: str = "unlabelled") -> Iterator[str]:
    """Unlabelled texts, streamed: the text column of a JSONL, CSV or TSV file (any label is
    ignored), or each line of any other file (e.g. .txt). Empty texts are skipped."""
    check_file(path, var)
    if path.suffix.lower() in SUFFIXES:
        for where, row in iter_rows(path, columns, var, needs_label=False):
            text = row.get(columns.text)
            if not isinstance(text, str):
                raise InputError(f"{where}: {columns.text!r} is not a string; every row needs its text "
                                 "(var text_column)")
            text = clean_text(text)
            if text:
                yield text
    else:
        for _, line in decoded_lines(path):
            text = clean_text(line)
            if text:
                yield text


def write_jsonl(path: Path, rows: List[Dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
