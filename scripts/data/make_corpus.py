"""Write the run's train/dev/test DocBins, its unlabelled texts and stats.json.

Three ways in, one layout out:
  - one labelled file (var reviews): deduplicated (case and whitespace ignored; a text
    seen with two labels is dropped) and split into balanced, non-overlapping train, dev
    and test sets, size/k reviews of each of the k labels. Proportional rule: when the
    rarest label has fewer unique reviews than the splits ask for, every split shrinks by
    the same factor, so splits stay balanced and keep their proportions.
  - your own splits (vars train, dev, test): each file used exactly as given, with no
    balancing or resampling; a split you leave out is held out of train (n_dev, n_test,
    at most a fifth of train each). Texts shared between splits are reported and refused
    unless allowed (allow_overlap in configs/settings/corpus.cfg).
  - no gold labels (--no-gold, the `unlabelled` workflow): dev, and test unless a labelled
    test file is given, are held out of the unlabelled file (at most a tenth of it each)
    and labelled by the given teacher; train is empty.
The classes are the labels found in the data (POS and NEG for sentiment, or any other
set of two or more), or in --no-gold the teacher's.

Unlabelled texts (a file, or 'rest': the reviews no split uses) are streamed, never held
in memory: every text that is not a text of train, dev or test goes to unlabelled.txt,
which the `label` step streams through the teacher, and a seeded sample of n_train of
them to unlabelled.spacy, which the augmenter uses as sources beside the training reviews.
"""
import json
import os
import random
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy
import spacy
import typer
from spacy.tokens import DocBin
from wasabi import msg

from scripts.shared.cli_support import InputError, run_cli
from scripts.data.reviews import (PROJECT_EXTRA_TESTS, Columns, columns_for, is_sentiment, iter_texts, label_order,
                                  parse_label_map, read_reviews, uses_project_data)

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
    if not texts:
        return {}
    chars = numpy.array([len(t) for t in texts])
    words = numpy.array([len(t.split()) for t in texts])
    q = (5, 50, 95)
    return {
        "chars": {f"p{p}": float(numpy.percentile(chars, p)) for p in q},
        "words": {f"p{p}": float(numpy.percentile(words, p)) for p in q},
    }


def stream_unlabelled(nlp, texts: Iterable[str], split_texts: set, text_path: Path, sample_path: Path,
                      sample_size: int, seed: int) -> Dict:
    """Write every text that is not a text of train, dev or test (no leak into the test set
    through the teacher's labels) to text_path, one per line, and a seeded uniform sample
    of `sample_size` of them (reservoir sampling) to sample_path. Memory holds the sample
    only, whatever the number of texts."""
    rng = random.Random(f"{seed}-unlabelled")
    sample: List[str] = []
    kept = overlap = 0
    tmp = text_path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for text in texts:
            if text.casefold() in split_texts:
                overlap += 1
                continue
            out.write(text.replace("\n", " ") + "\n")
            kept += 1
            if len(sample) < sample_size:
                sample.append(text)
            else:
                slot = rng.randrange(kept)
                if slot < sample_size:
                    sample[slot] = text
    tmp.replace(text_path)
    db = DocBin(store_user_data=True)
    for doc in nlp.pipe(sample):
        doc.user_data["source"] = "unlabelled"
        db.add(doc)
    db.to_disk(sample_path)
    if kept or overlap:
        msg.info(f"{kept} unlabelled texts kept for the teacher to label ({overlap} dropped as texts of "
                 f"train/dev/test); {len(sample)} of them sampled as augmentation sources")
    return {"n": kept, "dropped_in_splits": overlap, "sample": len(sample)}


EXTRA_SUFFIXES = (".jsonl", ".csv")


def split_counts(rows: List[Dict], labels: List[str]) -> Dict:
    """Docs per label; binary runs keep their POS, NEG and pos_share fields."""
    counts = Counter(r["label"] for r in rows)
    out = {"n": len(rows), **{label: counts[label] for label in labels}}
    if is_sentiment(labels):
        out["pos_share"] = counts["POS"] / max(1, len(rows))
    return out


def read_extra_tests(folder: Optional[Path], lang: str, labels: List[str], split_texts: set,
                     star_classes: bool = False, columns: Columns = Columns()) -> Dict[str, tuple]:
    """Each labelled file in `folder` as a test set of its own: {name: (rows, stats)}, minus
    texts of train, dev or test and duplicates. A folder that does not exist means none."""
    files = sorted(p for p in folder.iterdir() if p.suffix in EXTRA_SUFFIXES) if folder and folder.is_dir() else []
    found = {}
    for path in files:
        reviews, _ = read_reviews(path, lang, star_classes=star_classes, columns=columns_for(path, columns),
                                  var="extra_tests")
        unknown = sorted({r["label"] for r in reviews} - set(labels))
        if unknown:
            raise InputError(f"{path}: labels {', '.join(map(repr, unknown))} are not among this run's classes "
                             f"({', '.join(labels)}); relabel the file or remove it from the extra_tests folder")
        other = [r for r in reviews if r["lang"] != lang]
        if other:
            raise InputError(f"{path}: {len(other)} rows are in lang '{other[0]['lang']}' but this run's lang is "
                             f"'{lang}'; put extra test sets in a folder of their language (assets/extra_tests/LANG)")
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
        counts = split_counts(rows, labels)
        found[path.stem] = (rows, {"file": str(path), **counts, "dropped_in_splits": overlap,
                                   "dropped_duplicates": len(reviews) - overlap - len(rows)})
    return found


def one_file_splits(reviews_path: Path, lang: str, sizes: Dict[str, int], n_train: int, seed: int,
                    min_per_label: int, star_classes: bool, columns: Columns):
    """Balanced, deduplicated splits of one file: (rows per split, labels, stats, unused reviews)."""
    reviews, dropped = read_reviews(reviews_path, lang, star_classes=star_classes, columns=columns)
    if not reviews and not dropped:
        raise InputError(f"{reviews_path}: the file is empty (no reviews); fill it or point the var reviews at "
                         "another file")
    check_lang(reviews, lang, reviews_path)
    unique, dup_counts = deduplicate(reviews)
    dropped.update(dup_counts)
    labels = label_order(r["label"] for r in unique)
    by_label = {label: [r for r in unique if r["label"] == label] for label in labels}
    available = {label: len(rows) for label, rows in by_label.items()}
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
    for label in labels:
        rng.shuffle(by_label[label])
    # dev first, then the pool, then test: with a fixed pool and seed, dev and test stay
    # the same whatever n_train, and every train set is a prefix of the same pool
    starts = {"dev": 0, "train": per_label["dev"], "test": per_label["dev"] + pool_per_label}
    splits = {}
    for split in SPLITS:
        rows = []
        for label in labels:
            rows.extend(by_label[label][starts[split]:starts[split] + per_label[split]])
        random.Random(f"{seed}-{split}").shuffle(rows)  # each split's order independent of the others' sizes
        splits[split] = rows
    # the pool past the training set, and every review after the test set
    rest = [r["text"] for label in labels for r in
            by_label[label][starts["train"] + per_label["train"]:starts["train"] + pool_per_label]
            + by_label[label][starts["test"] + per_label["test"]:]]
    unused = sum(available.values()) - sum(k * n for n in per_label.values())
    stats = {"source_file": str(reviews_path), "reviews_read": len(reviews), "unique": len(unique),
             "available_per_label": available, "requested": sizes, "scale": scale, "pool": k * pool_per_label,
             "dropped": {**dropped, "unused_for_balance": unused}}
    return splits, labels, stats, rest


def check_lang(reviews: List[Dict], lang: str, path: Path) -> None:
    other = [r for r in reviews if r["lang"] != lang]
    if other:
        raise InputError(f"{path}: {len(other)} reviews are in lang '{other[0]['lang']}' but this run's "
                         f"lang is '{lang}' (its tokenizer, tagger and word list would be wrong); run with "
                         f"--vars.lang {other[0]['lang']} or give a file of {lang} reviews")


def hold_out(rows: List[Dict], size: int, seed: int, split: str) -> tuple:
    """(held out, kept): about `size` rows drawn from `rows`, copies of a text staying together."""
    groups: Dict[str, List[Dict]] = defaultdict(list)
    for row in rows:
        groups[row["text"].casefold()].append(row)
    keys = list(groups)
    random.Random(f"{seed}-hold-out-{split}").shuffle(keys)
    taken, held = set(), []
    for key in keys:
        if len(held) >= size:
            break
        taken.add(key)
        held.extend(groups[key])
    return held, [r for r in rows if r["text"].casefold() not in taken]


def overlaps(splits: Dict[str, List[Dict]]) -> Dict[str, Dict]:
    """Texts (case and whitespace ignored) that two splits share: count and examples."""
    keys = {split: {r["text"].casefold(): r["text"] for r in rows} for split, rows in splits.items()}
    found = {}
    for i, first in enumerate(SPLITS):
        for second in SPLITS[i + 1:]:
            shared = sorted(set(keys[first]) & set(keys[second]))
            if shared:
                found[f"{first}/{second}"] = {"n": len(shared), "examples": [keys[second][k] for k in shared[:3]]}
    return found


def given_splits(paths: Dict[str, Optional[Path]], lang: str, sizes: Dict[str, int], seed: int, star_classes: bool,
                 columns: Columns, allow_overlap: bool):
    """Your own split files, used as given; a split left out is held out of train."""
    splits, dropped, sources, notes = {}, Counter(), {}, []
    for split in SPLITS:
        if paths[split] is None:
            continue
        rows, lost = read_reviews(paths[split], lang, star_classes=star_classes, columns=columns, var=split)
        if not rows:
            raise InputError(f"{paths[split]}: no labelled rows; fill the file or change the var {split}")
        check_lang(rows, lang, paths[split])
        splits[split], sources[split] = rows, str(paths[split])
        dropped.update({f"{split}_{reason}": n for reason, n in lost.items()})
    labels = label_order(r["label"] for r in splits["train"])
    if len(labels) < 2:
        raise InputError(f"{paths['train']}: every row has the label {labels[0]!r}; a classifier needs two classes "
                         "or more, so add rows of the other classes")
    for split in ("dev", "test"):
        if split in splits:
            unknown = sorted({r["label"] for r in splits[split]} - set(labels))
            if unknown:
                raise InputError(f"{paths[split]}: labels {', '.join(map(repr, unknown))} never occur in train "
                                 f"({', '.join(labels)}); fix the labels, or map them with the var label_map")
            continue
        size = min(sizes[split], len(splits["train"]) // 5)
        if size < 1:
            raise InputError(f"{paths['train']}: {len(splits['train'])} rows are too few to hold out a {split} set; "
                             f"give a {split} file (var {split}) or more training rows")
        splits[split], splits["train"] = hold_out(splits["train"], size, seed, split)
        sources[split] = f"held out of {paths['train']}"
        notes.append(f"No {split} file: {len(splits[split])} rows held out of train (var {split} names a file of "
                     "your own)")
    shared = overlaps(splits)
    if shared and not allow_overlap:
        pair, found = next(iter(shared.items()))
        first, second = pair.split("/")
        raise InputError(f"{sources[second]}: {found['n']} texts of {second} are also in {first} (e.g. "
                         f"{found['examples'][0][:60]!r}); remove them, or set allow_overlap = true in corpus.cfg of the settings folder (var settings) to keep them")
    for note in notes:  # said once the files passed every check: a refused run prints one line
        msg.info(note)
    for pair, found in shared.items():
        msg.warn(f"{pair}: {found['n']} shared texts kept (allow_overlap), e.g. {found['examples'][0][:60]!r}")
    stats = {"sources": sources, "overlap": shared, "dropped": dict(dropped)}
    return splits, labels, stats


def zero_label_splits(unlabelled: Path, teacher_spec: str, test_path: Optional[Path], lang: str,
                      sizes: Dict[str, int], seed: int, star_classes: bool, columns: Columns, batch_size: int):
    """Dev (and test, without a test file) held out of the unlabelled file and labelled by the
    teacher; the file is read in passes, never held in memory."""
    from scripts.teacher.given_teacher import TRAIN, load_given_teacher
    from scripts.teacher.teacher_runtime import predict_probs

    if not teacher_spec or teacher_spec == TRAIN:
        raise InputError("no gold labels and no teacher to label the texts; set the var teacher to your fine-tuned "
                         "classifier (a spaCy pipeline or a Hugging Face folder or name)")
    teacher = load_given_teacher(teacher_spec, lang, columns.label_map)
    labels = list(teacher.get_pipe("textcat").labels)
    splits, sources = {"train": []}, {"train": "none (no gold labels)"}
    test_keys = set()
    if test_path is not None:
        rows, _ = read_reviews(test_path, lang, star_classes=star_classes, columns=columns, var="test")
        unknown = sorted({r["label"] for r in rows} - set(labels))
        if unknown:
            raise InputError(f"{test_path}: labels {', '.join(map(repr, unknown))} are not among the teacher's classes "
                             f"({', '.join(labels)}); map them with the var label_map")
        splits["test"], sources["test"] = rows, str(test_path)
        test_keys = {r["text"].casefold() for r in rows}
    n_texts = sum(1 for text in iter_texts(unlabelled, columns) if text.casefold() not in test_keys)
    held = {"dev": min(sizes["dev"], n_texts // 10), "test": 0 if test_path else min(sizes["test"], n_texts // 10)}
    if held["dev"] < 1:
        raise InputError(f"{unlabelled}: {n_texts} usable texts are too few to hold out a dev set (a tenth of "
                         "them); give at least 10")
    positions = random.Random(f"{seed}-held-out").sample(range(n_texts), held["dev"] + held["test"])
    which = {p: ("dev" if i < held["dev"] else "test") for i, p in enumerate(positions)}
    texts: Dict[str, List[str]] = {"dev": [], "test": []}
    index = 0
    for text in iter_texts(unlabelled, columns):
        if text.casefold() in test_keys:
            continue
        if index in which:
            texts[which[index]].append(text)
        index += 1
    for split, chosen in texts.items():
        if not chosen:
            continue
        msg.info(f"The teacher labels {len(chosen)} {split} texts held out of {unlabelled}")
        _, probs = predict_probs(teacher, chosen, batch_size)
        splits[split] = [{"text": t, "label": labels[int(p.argmax())], "source": "unlabelled", "probs": p}
                         for t, p in zip(chosen, probs)]
        sources[split] = f"held out of {unlabelled}, labelled by the teacher"
    stats = {"sources": sources, "teacher": teacher_spec, "unlabelled_texts": n_texts,
             "held_out": {split: len(t) for split, t in texts.items()}}
    return splits, labels, stats


def write_split(nlp, rows: List[Dict], labels: List[str], path: Path) -> None:
    """Rows as a DocBin: one-hot gold cats over `labels`, or the teacher's probabilities
    for rows it labelled (marked label_source = teacher)."""
    db = DocBin(store_user_data=True)
    for row, doc in zip(rows, nlp.pipe(r["text"] for r in rows)):
        if "probs" in row:
            doc.cats = {label: float(p) for label, p in zip(labels, row["probs"])}
            doc.user_data["label_source"] = "teacher"
        else:
            doc.cats = {label: float(row["label"] == label) for label in labels}
        doc.user_data["source"] = row["source"]
        db.add(doc)
    db.to_disk(path)


def optional_path(value: str) -> Optional[Path]:
    return Path(value) if value else None


def main(
    reviews_path: str = typer.Argument("", help="One labelled file (JSONL, CSV or TSV) to split; '' with --train "
                                       "or --no-gold"),
    output_dir: Path = typer.Argument(..., help="Writes train/dev/test.spacy, unlabelled.txt/.spacy and stats.json"),
    lang: str = typer.Option("nl", help="spaCy language code for tokenisation"),
    n_train: int = typer.Option(1000), n_dev: int = typer.Option(1000),
    n_test: int = typer.Option(1000, help="0: every review not in the pool or dev (balanced)"),
    n_pool: int = typer.Option(0, help="Training pool; train is its first n_train reviews, so runs "
                               "with the same pool and seed share dev and test and nest their train sets. "
                               "0: the pool is n_train"),
    seed: int = typer.Option(0),
    min_per_label: int = typer.Option(5, help="Fail if a split would get fewer reviews per label"),
    unlabelled: str = typer.Option("", help="Unlabelled texts for the teacher to label: a .txt (one per line), or "
                                   ".jsonl/.csv/.tsv (the text column); 'rest': the reviews no split uses; '': none"),
    extra_tests: str = typer.Option("", help="A folder of labelled files (like the reviews), each an extra test "
                                     "set written to OUTPUT_DIR/extra/NAME.spacy; '' or missing: none"),
    stars_as: str = typer.Option("sentiment", help="How a `stars` column becomes labels: 'sentiment' (1-2 NEG, "
                                 "4-5 POS, 3 dropped) or 'classes' (each star count a class of its own)"),
    train: str = typer.Option("", help="Your own training file, used as given (then reviews is not read)"),
    dev: str = typer.Option("", help="Your own dev file; '': held out of --train"),
    test: str = typer.Option("", help="Your own test file; '': held out of --train (or, with --no-gold, of the "
                             "unlabelled texts)"),
    text_column: str = typer.Option("text", help="The column (or JSON field) that holds the text"),
    label_column: str = typer.Option("label", help="The column (or JSON field) that holds the label"),
    label_map: str = typer.Option("", help="RAW=CLASS pairs, comma-separated; RAW= drops such rows"),
    allow_overlap: str = typer.Option("false", help="true: keep texts that two of your split files share"),
    no_gold: bool = typer.Option(False, help="No gold training labels: the teacher (--teacher) labels held-out "
                                 "dev (and test) texts of the unlabelled file"),
    teacher: str = typer.Option("", help="With --no-gold: the given teacher (spaCy pipeline or Hugging Face model)"),
    batch_size: int = typer.Option(64, help="With --no-gold: the teacher's batch size"),
):
    for name, value in (("n-train", n_train), ("n-dev", n_dev), ("n-test", n_test), ("n-pool", n_pool)):
        if value < 0:
            raise InputError(f"{name} must not be negative, got {value}; fix the var")
    if stars_as not in ("sentiment", "classes"):
        raise InputError(f"stars-as '{stars_as}': use 'sentiment' or 'classes'; fix stars_as in corpus.cfg of the settings folder (var settings)")
    star_classes = stars_as == "classes"
    n_pool = n_pool or n_train
    if n_pool < n_train:
        raise InputError(f"n-pool ({n_pool}) is smaller than n-train ({n_train}); raise n_pool or set it to 0")
    try:
        nlp = spacy.blank(lang)
    except ImportError:
        raise InputError(f"lang '{lang}' is not a language code spaCy knows; use e.g. nl, en, fr, de, it, es") from None
    if allow_overlap.lower() not in ("true", "false", "1", "0"):
        raise InputError(f"allow-overlap '{allow_overlap}': use true or false; fix allow_overlap in corpus.cfg of the settings folder (var settings)")
    columns = Columns(text_column, label_column, parse_label_map(label_map))
    sizes = dict(zip(SPLITS, (n_pool, n_dev, n_test)))
    rest: List[str] = []
    stats = {"lang": lang, "seed": seed}
    if no_gold:
        if not unlabelled or unlabelled == "rest":
            raise InputError("no gold labels (the `unlabelled` workflow) needs a file of unlabelled texts; set the var "
                             "unlabelled to a .txt (one text per line) or a .jsonl/.csv file")
        splits, labels, more = zero_label_splits(Path(unlabelled), teacher, optional_path(test), lang, sizes, seed,
                                                 star_classes, columns, batch_size)
        stats.update(mode="unlabelled", **more)
    elif train:
        paths = {"train": Path(train), "dev": optional_path(dev), "test": optional_path(test)}
        splits, labels, more = given_splits(paths, lang, sizes, seed, star_classes, columns,
                                            allow_overlap.lower() in ("true", "1"))
        stats.update(mode="given", **more)
    elif reviews_path:
        if dev or test:
            raise InputError("dev or test files are given but no train file; set the var train too (your own "
                             "splits), or clear dev and test to split the reviews file")
        splits, labels, more, rest = one_file_splits(Path(reviews_path), lang, sizes, n_train, seed, min_per_label,
                                                     star_classes, columns)
        stats.update(mode="one_file", **more)
    else:
        raise InputError("no labelled data: set the var reviews (one file to split) or train (your own splits); "
                         "with no gold labels at all, run the `unlabelled` workflow with a teacher")
    stats["labels"] = labels
    split_texts = {r["text"].casefold() for rows in splits.values() for r in rows}
    if extra_tests.startswith(PROJECT_EXTRA_TESTS) and not uses_project_data(reviews_path, train):
        extra_tests = ""  # the project's own extra test sets belong beside its own reviews, not your data
    extra = read_extra_tests(Path(extra_tests) if extra_tests else None, lang, labels, split_texts,
                             star_classes, columns)
    if unlabelled == "rest":
        texts = iter(rest)
    elif unlabelled:
        texts = iter_texts(Path(unlabelled), columns)
    else:
        texts = iter(())
    # everything is built in a folder of its own and moved into place at the end: a failure
    # (a bad line deep in a large unlabelled file, say) leaves the outputs of before
    output_dir.mkdir(parents=True, exist_ok=True)
    partial = output_dir / ".partial"
    if partial.exists():
        shutil.rmtree(partial)  # this step's own unfinished build
    (partial / "extra").mkdir(parents=True)
    stats["splits"] = {}
    for split in SPLITS:
        rows = splits.get(split, [])
        write_split(nlp, rows, labels, partial / f"{split}.spacy")
        stats["splits"][split] = {**split_counts(rows, labels), "length": length_percentiles([r["text"] for r in rows])}
    stats["unlabelled"] = stream_unlabelled(nlp, texts, split_texts, partial / "unlabelled.txt",
                                            partial / "unlabelled.spacy", n_train, seed)
    if unlabelled not in ("", "rest") and not no_gold and not stats["unlabelled"]["n"] + \
            stats["unlabelled"]["dropped_in_splits"]:
        raise InputError(f"{unlabelled}: the file is empty (no texts); add texts, one per line, or set the var "
                         "unlabelled to ''")
    stats["extra_tests"] = {}
    for name, (rows, counts) in extra.items():
        write_split(nlp, rows, labels, partial / "extra" / f"{name}.spacy")
        stats["extra_tests"][name] = counts
        msg.info(f"Extra test set {name}: {len(rows)} reviews ({counts_text({l: counts[l] for l in labels})}) "
                 f"from {counts['file']}")
    (partial / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False))
    for item in sorted(partial.iterdir()):
        target = output_dir / item.name
        if target.is_dir():
            shutil.rmtree(target)  # extra/: this step's own folder, refilled
        os.replace(item, target)
    partial.rmdir()
    msg.table([(s, v["n"], *(v[label] for label in labels)) for s, v in stats["splits"].items()],
              header=("split", "docs", *labels), divider=True)
    msg.good(f"Wrote {output_dir}/{{train,dev,test}}.spacy ({stats['mode'].replace('_', ' ')})"
             + (f"; dropped: {stats['dropped']}" if stats.get("dropped") else ""))


if __name__ == "__main__":
    run_cli(main, settings=("corpus", "label"))
