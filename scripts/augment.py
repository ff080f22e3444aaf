"""Make synthetic reviews from the training reviews, following Tang et al. (2019).

Per word, u ~ U(0,1): u < p_mask gives the teacher tokenizer's mask token; else
u < p_mask + p_pos gives a word of the same POS tag, drawn from that tag's unigram
distribution in the training set. Then, with probability p_ng, only a random window
of 1..ngram_max words is kept. Also, with probability p_sentence, one whole sentence
of the review is emitted (the original experiment's fourth method). This repeats
n_iter times per review; duplicates, copies of an original and empty texts are
dropped. Setting a probability to 0 switches that method off.
"""
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

import spacy
import typer
from spacy.tokens import DocBin
from tqdm import tqdm
from wasabi import msg

import distillation  # noqa: F401  (registers the scorer the trained pipelines name)
from cli_support import InputError, require, run_cli

METHODS = ("mask", "pos", "ngram", "sentence")


@dataclass(frozen=True)
class AugmentSettings:
    p_mask: float = 0.1
    p_pos: float = 0.1
    p_ng: float = 0.25
    ngram_max: int = 5
    p_sentence: float = 0.0
    n_iter: int = 20

    def check(self) -> None:
        for name in ("p_mask", "p_pos", "p_ng", "p_sentence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be a probability between 0 and 1, got {value}; fix the var")
        if self.p_mask + self.p_pos > 1.0:
            raise InputError(f"p_mask + p_pos must be at most 1, got {self.p_mask + self.p_pos}")
        if self.n_iter < 1 or self.ngram_max < 1:
            raise InputError("n_iter and ngram_max must be at least 1")


@dataclass
class TaggedReview:
    words: List[str]
    spaces: List[bool]
    tags: List[str]
    sentences: List[str]

    @property
    def text(self) -> str:
        return join_words(self.words, self.spaces)


def join_words(words: Sequence[str], spaces: Sequence[bool]) -> str:
    return "".join(w + (" " if s else "") for w, s in zip(words, spaces)).strip()


class PosUnigrams:
    """Words seen with each POS tag in the training set, with their frequencies."""

    def __init__(self, reviews: Iterable[TaggedReview]):
        counts: Dict[str, Counter] = defaultdict(Counter)
        for review in reviews:
            for word, tag in zip(review.words, review.tags):
                counts[tag][word] += 1
        self.words = {tag: list(c) for tag, c in counts.items()}
        self.cum_weights = {}
        for tag, c in counts.items():
            total, cum = 0, []
            for word in self.words[tag]:
                total += c[word]
                cum.append(total)
            self.cum_weights[tag] = cum

    def sample(self, tag: str, rng: random.Random) -> str:
        return rng.choices(self.words[tag], cum_weights=self.cum_weights[tag])[0]


def augment_once(review: TaggedReview, settings: AugmentSettings, unigrams: PosUnigrams,
                 mask_token: str, rng: random.Random) -> Tuple[str, Tuple[str, ...]]:
    """One Tang-style example: masking and POS swaps per word, then maybe an n-gram window."""
    words = list(review.words)
    changes: List[Optional[str]] = [None] * len(words)  # which method changed each word
    for i, tag in enumerate(review.tags):
        u = rng.random()
        if u < settings.p_mask:
            words[i], changes[i] = mask_token, "mask"
        elif u < settings.p_mask + settings.p_pos:
            words[i], changes[i] = unigrams.sample(tag, rng), "pos"
    spaces = list(review.spaces)
    windowed = False
    if words and rng.random() < settings.p_ng:
        n = rng.randint(1, settings.ngram_max)
        start = rng.randint(0, max(0, len(words) - n))
        window = slice(start, start + n)
        words, spaces, changes = words[window], spaces[window], changes[window]
        windowed = True
    # record only the methods that shaped what was kept
    methods = set(changes) | ({"ngram"} if windowed else set())
    return join_words(words, spaces), tuple(m for m in METHODS if m in methods)


def augment_review(review: TaggedReview, settings: AugmentSettings, unigrams: PosUnigrams,
                   mask_token: str, rng: random.Random) -> List[Tuple[str, Tuple[str, ...]]]:
    """All candidates for one review (n_iter rounds), before deduplication."""
    out = []
    for _ in range(settings.n_iter):
        out.append(augment_once(review, settings, unigrams, mask_token, rng))
        if review.sentences and rng.random() < settings.p_sentence:
            out.append((rng.choice(review.sentences), ("sentence",)))
    return out


def augment_all(reviews: List[TaggedReview], settings: AugmentSettings, mask_token: str, seed: int,
                max_examples: Optional[int] = None, progress: bool = False):
    """Deduplicated synthetic examples as (text, methods, review index), and drop counts."""
    settings.check()
    rng = random.Random(seed)
    unigrams = PosUnigrams(reviews)
    originals: Set[str] = {r.text for r in reviews}
    seen: Set[str] = set()
    examples, dropped = [], Counter()
    for index, review in enumerate(tqdm(reviews, desc="augment", unit="review", disable=not progress)):
        for text, methods in augment_review(review, settings, unigrams, mask_token, rng):
            if not text.strip():
                dropped["empty"] += 1
            elif text in originals:
                dropped["copy_of_original"] += 1
            elif text in seen:
                dropped["duplicate"] += 1
            else:
                seen.add(text)
                examples.append((text, methods, index))
    if max_examples is not None and len(examples) > max_examples:
        keep = sorted(rng.sample(range(len(examples)), max_examples))
        dropped["over_target_size"] = len(examples) - max_examples
        examples = [examples[i] for i in keep]
    return examples, dropped


def tag_reviews(tagger, texts: List[str]) -> List[TaggedReview]:
    reviews = []
    for doc in tagger.pipe(texts, batch_size=64):
        reviews.append(TaggedReview(
            words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc],
            # pipelines with a morphologizer but no tagger (e.g. fr_core_news_sm) set pos_ only
            tags=[t.tag_ or t.pos_ for t in doc],
            sentences=[s.text.strip() for s in doc.sents if s.text.strip()],
        ))
    return reviews


def teacher_mask_token(teacher_path: Path) -> str:
    require(teacher_path, "the trained teacher", "train-teacher")
    teacher = spacy.load(teacher_path)
    for _, component in teacher.pipeline:
        tokenizer = getattr(getattr(component, "model", None), "tokenizer", None)
        if getattr(tokenizer, "mask_token", None):
            return tokenizer.mask_token
    raise InputError(f"{teacher_path}: the teacher's tokenizer has no mask token; choose a masked-LM backbone")


def main(
    train_path: Path = typer.Argument(..., help="Training reviews (.spacy)"),
    tagger_path: Path = typer.Argument(..., help="spaCy pipeline with a POS tagger and sentence boundaries"),
    teacher_path: Path = typer.Argument(..., help="The teacher; its tokenizer gives the mask token"),
    output_path: Path = typer.Argument(..., help="Synthetic reviews (.spacy), not yet labelled"),
    p_mask: float = typer.Option(0.1), p_pos: float = typer.Option(0.1), p_ng: float = typer.Option(0.25),
    ngram_max: int = typer.Option(5), p_sentence: float = typer.Option(0.0), n_iter: int = typer.Option(20),
    max_examples: int = typer.Option(0, help="Cap on the number of examples; 0 means no cap"),
    seed: int = typer.Option(0),
):
    settings = AugmentSettings(p_mask, p_pos, p_ng, ngram_max, p_sentence, n_iter)
    settings.check()
    if max_examples < 0:
        raise InputError(f"max-examples must be 0 (no cap) or more, got {max_examples}; fix the var max_synthetic")
    require(train_path, "the training reviews", "corpus")
    require(tagger_path, "the POS tagger", "tagger")
    mask_token = teacher_mask_token(teacher_path)
    tagger = spacy.load(tagger_path)
    train_docs = list(DocBin().from_disk(train_path).get_docs(tagger.vocab))
    reviews = tag_reviews(tagger, [d.text for d in train_docs])
    examples, dropped = augment_all(reviews, settings, mask_token, seed, max_examples or None, progress=True)
    nlp = spacy.blank(tagger.lang)
    db = DocBin(store_user_data=True)
    for (text, methods, index), doc in zip(examples, nlp.pipe(t for t, _, _ in examples)):
        doc.user_data["augment_methods"] = list(methods)
        doc.user_data["review_index"] = index
        if "mask" in methods:  # the student's reader keeps it as one token
            doc.user_data["mask_token"] = mask_token
        db.add(doc)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    db.to_disk(output_path)
    per_method = Counter(m for _, methods, _ in examples for m in methods)
    msg.good(f"{len(examples)} synthetic examples from {len(reviews)} reviews (mask token {mask_token!r})")
    msg.table([(m, per_method[m]) for m in METHODS], header=("method", "examples"), divider=True)
    msg.info(f"Dropped: {dict(dropped)}")


if __name__ == "__main__":
    run_cli(main)
