"""Split labelled reviews into balanced, non-overlapping train/dev/test DocBins.

The classes are the labels found in the reviews (POS and NEG for sentiment, or any
other set of two or more). Texts are deduplicated first (case and whitespace ignored;
a text seen with two labels is dropped). Each split takes size/k reviews of each of
the k labels.

Proportional rule: when the rarest label has fewer unique reviews than the splits
ask for, every split shrinks by the same factor (rarest label's count / requested
per label), rounded down, so splits stay balanced and keep their proportions.
"""
import json
import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Optional

import numpy
import spacy
import typer
from spacy.tokens import DocBin
from wasabi import msg

from scripts.shared.cli_support import InputError, run_cli
from scripts.data.reviews import is_sentiment, label_order, read_reviews, read_unlabelled

SPLITS = ("train", "dev", "test")


def deduplicate(reviews: List[Dict]):
    by_key: Dict[str, List[Dict]] = defaultdict(list)
    for review in reviews:
        by_key[review["text"].casefold()].append(review)
    unique, dropped = [], Counter()
    for copies in by_key.values():
        if len({r["label"] for r in copies}) > 1:
            dropped["conflicting_labels"] += len(copies)
            continue
        unique.append(copies[0])
        dropped["duplicates"] += len(copies) - 1
    return unique, dropped


def counts_text(counts: Dict[str, int]) -> str:
    return ", ".join(f"{n} {label}" for label, n in counts.items())


def plan_split_sizes(available: Dict[str, int], sizes: Dict[str, int], min_per_label: int, source: str):
    """Reviews per label for each split, after the proportional rule.

    sizes["train"] is the training pool; sizes["test"] == 0 means every review of the
    rarest label that the pool and dev leave over."""
    if len(available) < 2:
        raise InputError(
            f"{source}: every review has the label {next(iter(available), 'none')!r}; a classifier needs two "
            "classes or more, so add reviews of the other classes"
        )
    rarer = min(available.values())
    wanted = {split: size // len(available) for split, size in sizes.items()}
    total = sum(wanted.values())
    scale = min(1.0, rarer / total) if total else 1.0
    per_label = {split: int(n * scale) for split, n in wanted.items()}
    if sizes.get("test") == 0:
        per_label["test"] = rarer - per_label["train"] - per_label["dev"]
    short = [s for s, n in per_label.items() if n < min_per_label]
    if short:
        raise InputError(
            f"{source}: too few reviews for the requested split ({counts_text(available)} unique) -- "
            f"{', '.join(short)} would get fewer than {min_per_label} per label; add reviews or lower the "
            "split sizes (a label you did not mean, e.g. a typo, is a class of its own)"
        )
    return per_label, scale


def length_percentiles(texts: List[str]) -> Dict[str, Dict[str, float]]:
    chars = numpy.array([len(t) for t in texts])
    words = numpy.array([len(t.split()) for t in texts])
    q = (5, 50, 95)
    return {
        "chars": {f"p{p}": float(numpy.percentile(chars, p)) for p in q},
        "words": {f"p{p}": float(numpy.percentile(words, p)) for p in q},
    }


def write_unlabelled(nlp, texts: List[str], split_texts: set, path: Path, seed: int) -> Dict:
    """Unlabelled texts without gold cats, minus any text of train, dev or test (no leak into the
    test set through the teacher's labels) and minus duplicates."""
    seen, kept, overlap = set(), [], 0
    for text in texts:
        key = text.casefold()
        if key in split_texts:
            overlap += 1
        elif key not in seen:
            seen.add(key)
            kept.append(text)
    random.Random(f"{seed}-unlabelled").shuffle(kept)
    db = DocBin(store_user_data=True)
    for doc in nlp.pipe(kept):
        doc.user_data["source"] = "unlabelled"
        db.add(doc)
    db.to_disk(path)
    if texts:
        msg.info(f"{len(kept)} unlabelled texts kept ({overlap} dropped as texts of train/dev/test, "
                 f"{len(texts) - overlap - len(kept)} as duplicates)")
    return {"n": len(kept), "dropped_in_splits": overlap, "dropped_duplicates": len(texts) - overlap - len(kept)}


EXTRA_SUFFIXES = (".jsonl", ".csv")


def split_counts(rows: List[Dict], labels: List[str]) -> Dict:
    """Docs per label; binary runs keep their POS, NEG and pos_share fields."""
    counts = Counter(r["label"] for r in rows)
    out = {"n": len(rows), **{label: counts[label] for label in labels}}
    if is_sentiment(labels):
        out["pos_share"] = counts["POS"] / max(1, len(rows))
    return out


def write_labelled(nlp, rows: List[Dict], labels: List[str], path: Path) -> None:
    """Reviews as a DocBin with one-hot gold cats over `labels` and their source."""
    db = DocBin(store_user_data=True)
    for review, doc in zip(rows, nlp.pipe(r["text"] for r in rows)):
        doc.cats = {label: float(review["label"] == label) for label in labels}
        doc.user_data["source"] = review["source"]
        db.add(doc)
    db.to_disk(path)


def write_extra_tests(nlp, folder: Optional[Path], lang: str, labels: List[str], split_texts: set, output: Path,
                      star_classes: bool = False) -> Dict:
    """Each labelled file in `folder` as a test set of its own in `output` (NAME.spacy), minus
    texts of train, dev or test and duplicates. A folder that does not exist means none."""
    output.mkdir(parents=True, exist_ok=True)
    for old in output.glob("*.spacy"):  # sets from an earlier extra_tests folder
        old.unlink()
    files = sorted(p for p in folder.iterdir() if p.suffix in EXTRA_SUFFIXES) if folder and folder.is_dir() else []
    stats = {}
    for path in files:
        reviews, _ = read_reviews(path, lang, star_classes=star_classes)
        unknown = sorted({r["label"] for r in reviews} - set(labels))
        if unknown:
            raise InputError(f"{path}: labels {', '.join(map(repr, unknown))} are not among this run's classes "
                             f"({', '.join(labels)}); relabel the file or remove it from the extra_tests folder")
        other = [r for r in reviews if r["lang"] != lang]
        if other:
            raise InputError(f"{path}: {len(other)} rows are in lang '{other[0]['lang']}' but this run's lang is "
                             f"'{lang}'; put extra test sets in a folder of their language (var extra_tests)")
        seen, rows, overlap = set(), [], 0
        for review in reviews:
            key = review["text"].casefold()
            overlap += key in split_texts
            if key not in split_texts and key not in seen:
                seen.add(key)
                rows.append(review)
        if not rows:
            raise InputError(f"{path}: no test reviews left ({len(reviews)} read, {overlap} also in train/dev/test); "
                             "remove the file from the extra_tests folder or fill it")
        write_labelled(nlp, rows, labels, output / f"{path.stem}.spacy")
        counts = split_counts(rows, labels)
        stats[path.stem] = {"file": str(path), **counts,
                            "dropped_in_splits": overlap, "dropped_duplicates": len(reviews) - overlap - len(rows)}
        msg.info(f"Extra test set {path.stem}: {len(rows)} reviews "
                 f"({counts_text({label: counts[label] for label in labels})}) from {path}")
    return stats


def main(
    reviews_path: Path = typer.Argument(..., help="Reviews as JSONL or CSV: text plus stars or label"),
    output_dir: Path = typer.Argument(..., help="Writes train/dev/test.spacy and stats.json here"),
    lang: str = typer.Option("nl", help="spaCy language code for tokenisation"),
    n_train: int = typer.Option(1000), n_dev: int = typer.Option(1000),
    n_test: int = typer.Option(1000, help="0: every review not in the pool or dev (balanced)"),
    n_pool: int = typer.Option(0, help="Training pool; train is its first n_train reviews, so runs "
                               "with the same pool and seed share dev and test and nest their train sets. "
                               "0: the pool is n_train"),
    seed: int = typer.Option(0),
    min_per_label: int = typer.Option(5, help="Fail if a split would get fewer reviews per label"),
    unlabelled: str = typer.Option("", help="Unlabelled texts for the teacher to label: a .jsonl (text) or .txt "
                                   "(one per line) file; 'rest': the reviews no split uses, labels dropped; '': none"),
    extra_tests: str = typer.Option("", help="A folder of labelled files (.jsonl/.csv, like the reviews), each "
                                     "an extra test set written to OUTPUT_DIR/extra/NAME.spacy; '' or missing: none"),
    stars_as: str = typer.Option("sentiment", help="How a `stars` column becomes labels: 'sentiment' (1-2 NEG, "
                                 "4-5 POS, 3 dropped) or 'classes' (each star count a class of its own)"),
):
    for name, value in (("n-train", n_train), ("n-dev", n_dev), ("n-test", n_test), ("n-pool", n_pool)):
        if value < 0:
            raise InputError(f"{name} must not be negative, got {value}; fix the var")
    if stars_as not in ("sentiment", "classes"):
        raise InputError(f"stars-as '{stars_as}': use 'sentiment' or 'classes'; fix the var stars_as")
    star_classes = stars_as == "classes"
    n_pool = n_pool or n_train
    if n_pool < n_train:
        raise InputError(f"n-pool ({n_pool}) is smaller than n-train ({n_train}); raise n_pool or set it to 0")
    try:
        nlp = spacy.blank(lang)
    except ImportError:
        raise InputError(f"lang '{lang}' is not a language code spaCy knows; use e.g. nl, en, fr, de, it, es") from None
    reviews, dropped = read_reviews(reviews_path, lang, star_classes=star_classes)
    if not reviews and not dropped:
        raise InputError(f"{reviews_path}: the file is empty (no reviews); fill it or point the var reviews at "
                         "another file")
    other = [r for r in reviews if r["lang"] != lang]
    if other:
        raise InputError(f"{reviews_path}: {len(other)} reviews are in lang '{other[0]['lang']}' but this run's "
                         f"lang is '{lang}' (its tokenizer, tagger and word list would be wrong); run with "
                         f"--vars.lang {other[0]['lang']} or give a file of {lang} reviews")
    unique, dup_counts = deduplicate(reviews)
    dropped.update(dup_counts)
    labels = label_order(r["label"] for r in unique)
    by_label = {label: [r for r in unique if r["label"] == label] for label in labels}
    available = {label: len(rows) for label, rows in by_label.items()}
    sizes = dict(zip(SPLITS, (n_pool, n_dev, n_test)))
    per_label, scale = plan_split_sizes(available, sizes, min_per_label, str(reviews_path))
    pool_per_label = per_label["train"]
    k = len(labels)
    per_label["train"] = min(pool_per_label, int(n_train // k * scale))
    if per_label["train"] < min_per_label:  # the pool passed the check; train is only its prefix
        raise InputError(f"{reviews_path}: n-train {n_train} gives {per_label['train']} training reviews per label, "
                         f"fewer than {min_per_label}; raise n_train to at least {k * min_per_label}")
    if scale < 1.0:
        msg.warn(
            f"Proportional rule: only {min(available.values())} unique reviews of the rarest label "
            f"for {sum(s // k for s in sizes.values())} requested; every split shrinks by "
            f"{scale:.3f} -> " + ", ".join(f"{s} {k * n}" for s, n in per_label.items())
        )
    rng = random.Random(seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    stats = {"lang": lang, "source_file": str(reviews_path), "seed": seed, "labels": labels,
             "reviews_read": len(reviews), "unique": len(unique), "available_per_label": available,
             "requested": sizes, "scale": scale, "splits": {}}
    for label in labels:
        rng.shuffle(by_label[label])
    # dev first, then the pool, then test: with a fixed pool and seed, dev and test stay
    # the same whatever n_train, and every train set is a prefix of the same pool
    starts = {"dev": 0, "train": per_label["dev"], "test": per_label["dev"] + pool_per_label}
    split_texts = set()
    for split in SPLITS:
        rows = []
        for label in labels:
            rows.extend(by_label[label][starts[split]:starts[split] + per_label[split]])
        random.Random(f"{seed}-{split}").shuffle(rows)  # each split's order independent of the others' sizes
        write_labelled(nlp, rows, labels, output_dir / f"{split}.spacy")
        split_texts.update(r["text"].casefold() for r in rows)
        stats["splits"][split] = {**split_counts(rows, labels), "length": length_percentiles([r["text"] for r in rows])}
    if unlabelled == "rest":
        # the pool past the training set, and every review after the test set
        extra = [r["text"] for label in labels for r in
                 by_label[label][starts["train"] + per_label["train"]:starts["train"] + pool_per_label]
                 + by_label[label][starts["test"] + per_label["test"]:]]
    else:
        extra = read_unlabelled(Path(unlabelled)) if unlabelled else []
    stats["unlabelled"] = write_unlabelled(nlp, extra, split_texts, output_dir / "unlabelled.spacy", seed)
    stats["extra_tests"] = write_extra_tests(nlp, Path(extra_tests) if extra_tests else None, lang, labels,
                                             split_texts, output_dir / "extra", star_classes)
    unused = sum(available.values()) - sum(k * n for n in per_label.values())
    stats["pool"] = k * pool_per_label
    stats["dropped"] = {**dropped, "unused_for_balance": unused}
    (output_dir / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False))
    msg.table([(s, v["n"], *(v[label] for label in labels)) for s, v in stats["splits"].items()],
              header=("split", "docs", *labels), divider=True)
    msg.good(f"Wrote {output_dir}/{{train,dev,test}}.spacy; dropped: {stats['dropped']}")


if __name__ == "__main__":
    run_cli(main)
