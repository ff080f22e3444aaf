"""Make synthetic reviews from the training reviews, following Tang et al. (2019).

Per word, u ~ U(0,1): u < p_mask gives the teacher tokenizer's mask token; else
u < p_mask + p_pos gives a word of the same POS tag, drawn from that tag's unigram
distribution in the training set (or, with probability p_lexicon, a word of that tag
from a general frequency list, so that examples hold words the training reviews never
use). Then, with probability p_ng, only a random window of 1..ngram_max words is kept.
Also, with probability p_sentence, one whole sentence of the review is emitted (the
original experiment's fourth method). Rounds over the reviews repeat until the
transfer set has the target size (so the rounds per review follow from the target and
the data size); duplicates, copies of an original and empty texts are dropped.
Setting a probability to 0 switches that method off. A word budget may stop the rounds
before the target size: the teacher's labelling time grows with the words it reads, so
the same budget gives languages with long reviews fewer examples in about the same time.

Unlabelled in-domain texts, when given (the corpus step's sample of them), are augmented
like the training reviews; the `label` step labels all of them as they are, apart from
this set. The run's sizes and rounds are written next to the output as OUTPUT.augment.json.
"""
import json
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

from scripts.shared.cli_support import InputError, require, run_cli
from scripts.teacher.teacher_runtime import load_teacher
from scripts.transfer.word_lists import frequent_words

METHODS = ("mask", "pos", "ngram", "sentence")
# Rounds over the reviews at most when a target size drives them (a guard: short texts
# run out of new variants long before, and a round that adds nothing stops the run).
MAX_ROUNDS = 1000
# Rounds in a row that add nothing new before the augmenter stops short of its target.
SATURATION_ROUNDS = 20


@dataclass(frozen=True)
class AugmentSettings:
    p_mask: float = 0.1
    p_pos: float = 0.1
    p_ng: float = 0.25
    ngram_max: int = 5
    p_sentence: float = 0.0
    n_iter: int = 20
    p_lexicon: float = 0.0  # share of POS swaps drawn from the word list instead of the training set

    def check(self) -> None:
        for name in ("p_mask", "p_pos", "p_ng", "p_sentence", "p_lexicon"):
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
    """Words seen with each POS tag in the training set, with their frequencies; and,
    optionally, a word list tagged word by word, drawn uniformly with probability p_lexicon."""

    def __init__(self, reviews: Iterable[TaggedReview], lexicon: Optional[Dict[str, List[str]]] = None,
                 p_lexicon: float = 0.0):
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
        self.lexicon = {tag: words for tag, words in (lexicon or {}).items() if words}
        self.p_lexicon = p_lexicon

    def sample(self, tag: str, rng: random.Random) -> str:
        # the rng is only drawn for the list when one is in use, so runs without one repeat exactly
        if self.p_lexicon and tag in self.lexicon and rng.random() < self.p_lexicon:
            return rng.choice(self.lexicon[tag])
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
    """One round's candidates for one review: a Tang-style example, and maybe a sentence."""
    out = [augment_once(review, settings, unigrams, mask_token, rng)]
    if review.sentences and rng.random() < settings.p_sentence:
        out.append((rng.choice(review.sentences), ("sentence",)))
    return out


def count_words(text: str) -> int:
    """Words as the word budget counts them: whitespace-separated, so any language and no tokenizer."""
    return len(text.split())


def augment_all(reviews: List[TaggedReview], settings: AugmentSettings, mask_token: str, seed: int,
                target_size: Optional[int] = None, progress: bool = False,
                lexicon: Optional[Dict[str, List[str]]] = None, max_words: Optional[int] = None):
    """Deduplicated synthetic examples as (text, methods, review index), and a record of the run.

    Rounds go over every review in turn. With a target size the rounds go on until that
    many examples exist (the last round stops part-way), so the number of rounds per
    review follows from the target and the data size; they stop early, and say so, when
    SATURATION_ROUNDS rounds in a row add nothing new. Without one, `settings.n_iter` rounds are made.
    `lexicon` maps a tag to extra words for the POS swap. `max_words`, with a target
    size, also stops the rounds once the set holds that many words; the record says which
    limit ended the run."""
    settings.check()
    rng = random.Random(seed)
    unigrams = PosUnigrams(reviews, lexicon, settings.p_lexicon)
    originals: Set[str] = {r.text for r in reviews}
    seen: Set[str] = set()
    examples, dropped = [], Counter()
    goal = None if target_size is None else max(0, target_size)
    n_words = 0
    word_goal = None if goal is None or not max_words else max_words

    def full() -> bool:
        return len(examples) >= goal or (word_goal is not None and n_words >= word_goal)
    max_rounds = settings.n_iter if goal is None else MAX_ROUNDS
    rounds = 0.0
    bar = tqdm(total=goal if goal is not None else max_rounds * len(reviews), desc="augment", unit="ex",
               disable=not progress)
    saturated, idle_rounds = False, 0
    for round_index in range(max_rounds):
        before = len(examples)
        for index, review in enumerate(reviews):
            if goal is not None and full():
                break
            for text, methods in augment_review(review, settings, unigrams, mask_token, rng):
                if not text.strip():
                    dropped["empty"] += 1
                elif text in originals:
                    dropped["copy_of_original"] += 1
                elif text in seen:
                    dropped["duplicate"] += 1
                elif goal is None or not full():
                    seen.add(text)
                    examples.append((text, methods, index))
                    n_words += count_words(text)
                    if goal is not None:
                        bar.update(1)
            if goal is None:
                bar.update(1)
            rounds = round_index + (index + 1) / max(1, len(reviews))
        if goal is not None and full():
            break
        idle_rounds = idle_rounds + 1 if len(examples) == before else 0
        if idle_rounds >= SATURATION_ROUNDS:
            saturated = True
            break
    bar.close()
    word_capped = word_goal is not None and n_words >= word_goal and len(examples) < goal
    record = {"rounds": round(rounds, 2), "target_size": target_size, "max_words": max_words or None,
              "n_examples": len(examples),
              "n_words": n_words, "word_capped": word_capped, "saturated": saturated, "dropped": dict(dropped)}
    return examples, record


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


def open_tags(reviews: Iterable[TaggedReview]) -> Set[str]:
    """Open-class tags (nouns, verbs, adjectives, ...) whatever the tagset: of the tags with
    at least 1% of the training reviews' tokens, those with at least a fifth of the largest
    share of distinct words per token. Closed classes (articles, prepositions) and rare tags
    stay with the training set's own words: a word tagged alone lands there mostly by mistake."""
    counts: Dict[str, Counter] = defaultdict(Counter)
    for review in reviews:
        for word, tag in zip(review.words, review.tags):
            counts[tag][word.lower()] += 1
    n_tokens = sum(sum(c.values()) for c in counts.values())
    share = {tag: len(c) / sum(c.values()) for tag, c in counts.items() if sum(c.values()) >= n_tokens / 100}
    top = max(share.values(), default=0.0)
    return {tag for tag, value in share.items() if value >= top / 5}


def tag_lexicon(tagger, words: List[str], tags: Set[str]) -> Dict[str, List[str]]:
    """Each word's tag when tagged alone (no context, so its commonest reading), for the
    given tags only, and only words that stay one token."""
    lexicon: Dict[str, List[str]] = defaultdict(list)
    for doc in tagger.pipe(words, batch_size=1000):
        if len(doc) == 1:
            tag = doc[0].tag_ or doc[0].pos_
            if tag in tags:
                lexicon[tag].append(doc[0].text)
    return dict(lexicon)


# The mask word for a teacher without a transformer tokenizer (a spaCy textcat of its own):
# a token no review holds, which such a teacher reads as an unknown word.
PLAIN_MASK = "[MASK]"


def teacher_mask_token(teacher_path: Path) -> str:
    """The mask token of the teacher's tokenizer (a spaCy transformer's or a given Hugging
    Face classifier's); a teacher without one masks with PLAIN_MASK."""
    teacher = load_teacher(teacher_path)
    tokenizers = [getattr(component, "tokenizer", None) or getattr(getattr(component, "model", None), "tokenizer", None)
                  for _, component in teacher.pipeline]
    found = [t for t in tokenizers if t is not None]
    for tokenizer in found:
        if getattr(tokenizer, "mask_token", None):
            return tokenizer.mask_token
    if found:
        raise InputError(f"{teacher_path}: the teacher's tokenizer has no mask token; choose a masked-LM backbone, "
                         "or set p_mask = 0 in augment.cfg of the settings folder (var settings)")
    msg.info(f"The teacher has no transformer tokenizer: masked words become {PLAIN_MASK}")
    return PLAIN_MASK


def read_unlabelled(path: Optional[Path], vocab) -> List[str]:
    if path is None:
        return []
    require(path, "the unlabelled texts", "corpus")
    return [d.text for d in DocBin().from_disk(path).get_docs(vocab) if d.text.strip()]


def main(
    train_path: Path = typer.Argument(..., help="Training reviews (.spacy)"),
    tagger_path: Path = typer.Argument(..., help="spaCy pipeline with a POS tagger and sentence boundaries"),
    teacher_path: Path = typer.Argument(..., help="The teacher; its tokenizer gives the mask token"),
    output_path: Path = typer.Argument(..., help="Synthetic reviews (.spacy), not yet labelled"),
    p_mask: float = typer.Option(0.1), p_pos: float = typer.Option(0.1), p_ng: float = typer.Option(0.25),
    ngram_max: int = typer.Option(5), p_sentence: float = typer.Option(0.0),
    lexicon_words: int = typer.Option(0, help="Words of wordfreq's list (most frequent first) the POS swap may "
                                      "also draw, tagged one by one; 0: the training reviews' words only"),
    p_lexicon: float = typer.Option(0.0, help="Share of POS swaps drawn from that list"),
    target_size: int = typer.Option(0, help="Synthetic examples to make (the unlabelled texts, labelled as they are, come on top); the "
                                    "rounds per review follow from it. 0: --n-iter rounds"),
    words_per_example: float = typer.Option(0, help="With --target-size: stop once the set holds target-size "
                                            "x this many words (whitespace-separated), so long reviews give fewer "
                                            "examples; 0: no word limit"),
    n_iter: int = typer.Option(20, help="Rounds per review when --target-size is 0"),
    unlabelled: Path = typer.Option(None, help="Unlabelled in-domain texts (.spacy): kept as they are for the "
                                    "teacher to label, and augmented like the training reviews"),
    seed: int = typer.Option(0),
):
    settings = AugmentSettings(p_mask, p_pos, p_ng, ngram_max, p_sentence, n_iter, p_lexicon)
    settings.check()
    if lexicon_words < 0 or (p_lexicon > 0 and lexicon_words == 0):
        raise InputError(f"p_lexicon is {p_lexicon} but lexicon_words is {lexicon_words}: set lexicon_words in augment.cfg of the settings folder "
                         "to the number of words to draw from (e.g. 40000), or p_lexicon to 0")
    if target_size < 0:
        raise InputError(f"target-size must be 0 (use --n-iter) or more, got {target_size}; fix the var synthetic_size")
    if words_per_example < 0:
        raise InputError(f"words-per-example must be 0 (no word limit) or more, got {words_per_example:g}; "
                         "fix words_per_example in augment.cfg of the settings folder (var settings)")
    max_words = round(target_size * words_per_example)
    require(train_path, "the training reviews", "corpus")
    require(tagger_path, "the POS tagger", "tagger")
    mask_token = teacher_mask_token(teacher_path)
    tagger = spacy.load(tagger_path)
    check_tagger(tagger, tagger_path)
    train_docs = list(DocBin().from_disk(train_path).get_docs(tagger.vocab))
    extra = read_unlabelled(unlabelled, tagger.vocab)
    if not train_docs and not extra:
        raise InputError(f"{train_path}: no training reviews and no unlabelled texts to augment; check the corpus "
                         "step's n_train, or give unlabelled texts (var unlabelled)")
    reviews = tag_reviews(tagger, [d.text for d in train_docs] + extra)
    lexicon = None
    if lexicon_words and p_lexicon:
        words = frequent_words(tagger.lang, lexicon_words, var="lexicon_words")
        lexicon = tag_lexicon(tagger, words, open_tags(reviews))
    examples, record = augment_all(reviews, settings, mask_token, seed, target_size or None, progress=True,
                                   lexicon=lexicon, max_words=max_words or None)
    nlp = spacy.blank(tagger.lang)
    db = DocBin(store_user_data=True)
    rows = examples
    for (text, methods, index), doc in zip(rows, nlp.pipe(t for t, _, _ in rows)):
        doc.user_data["augment_methods"] = list(methods)
        doc.user_data["review_index"] = index
        if "mask" in methods:  # the student's reader keeps it as one token
            doc.user_data["mask_token"] = mask_token
        db.add(doc)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    db.to_disk(output_path)
    record.update(n_reviews=len(train_docs), n_unlabelled_sources=len(extra),
                  mask_token=mask_token, seed=seed,
                  p_lexicon=p_lexicon, n_lexicon=sum(map(len, (lexicon or {}).values())))
    output_path.with_name(output_path.stem + ".augment.json").write_text(json.dumps(record, indent=2))
    per_method = Counter(m for _, methods, _ in rows for m in methods)
    msg.good(f"{len(rows)} synthetic examples from {len(train_docs)} reviews"
             + (f" and {len(extra)} unlabelled texts" if extra else "")
             + f"; {record['rounds']} rounds per review (mask token {mask_token!r})")
    if record["word_capped"]:
        msg.info(f"The word budget ended the set at {len(rows)} of the {target_size} examples asked for: "
                 f"{record['n_words']:,} words, {target_size} x {words_per_example:g} (the var "
                 "synthetic_words_per_example; 0 lifts the limit)")
    if record["saturated"]:
        msg.warn(f"Only {len(rows)} of the {target_size} examples asked for: {SATURATION_ROUNDS} rounds in a row "
                 "added nothing new (too few or too short training reviews for that size)")
    msg.table([(m, per_method[m]) for m in METHODS], header=("method", "examples"), divider=True)
    msg.info(f"Dropped: {record['dropped']}")


def check_tagger(tagger, tagger_path: Path) -> None:
    """The POS swap needs tags: a pipeline that assigns none would swap any word for any other."""
    probe = tagger("Dit is een korte zin. En nog een.")
    if not any(t.tag_ or t.pos_ for t in probe):
        raise InputError(f"{tagger_path}: this pipeline assigns no POS tags (pipes: {', '.join(tagger.pipe_names) or 'none'}), "
                         "so the same-POS swap would swap any word; use a pipeline with a tagger or morphologizer")


if __name__ == "__main__":
    run_cli(main, settings=("augment",))
