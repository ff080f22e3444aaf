"""Each property of the Tang-style augmenters that the student's training data relies on."""
import random

import pytest

from scripts.transfer.augment import (AugmentSettings, PosUnigrams, TaggedReview, augment_all, augment_once,
                                      augment_review, open_tags, tag_lexicon)
from scripts.shared.cli_support import InputError

MASK = "[MASK]"


def review(text, tags, sentences=None):
    words = text.split()
    return TaggedReview(words=words, spaces=[True] * (len(words) - 1) + [False], tags=tags,
                        sentences=sentences or [text])


REVIEWS = [
    review("Het boek is erg goed .", ["Art", "N", "V", "Adv", "Adj", "Punc"],
           ["Het boek is erg goed ."]),
    review("De film was heel slecht . Niet kopen !", ["Art", "N", "V", "Adv", "Adj", "Punc", "Adv", "V", "Punc"],
           ["De film was heel slecht .", "Niet kopen !"]),
    review("Een prachtig verhaal met mooie zinnen .", ["Art", "Adj", "N", "Prep", "Adj", "N", "Punc"]),
]
UNIGRAMS = PosUnigrams(REVIEWS)


def test_all_probabilities_zero_leaves_text_unchanged():
    settings = AugmentSettings(p_mask=0, p_pos=0, p_ng=0, p_sentence=0, n_iter=5)
    rng = random.Random(0)
    for r in REVIEWS:
        for text, methods in augment_review(r, settings, UNIGRAMS, MASK, rng):
            assert text == r.text and methods == ()


def test_masking_changes_words_only_into_the_mask_token():
    settings = AugmentSettings(p_mask=0.5, p_pos=0, p_ng=0, n_iter=1)
    rng = random.Random(1)
    changed = 0
    for _ in range(50):
        text, methods = augment_once(REVIEWS[1], settings, UNIGRAMS, MASK, rng)
        words = text.split()
        assert len(words) == len(REVIEWS[1].words)
        for new, old in zip(words, REVIEWS[1].words):
            assert new in (old, MASK)
            changed += new == MASK
        assert ("mask" in methods) == (MASK in words)
    assert changed > 0


def test_pos_swap_keeps_the_tag_sequence():
    settings = AugmentSettings(p_mask=0, p_pos=1.0, p_ng=0, n_iter=1)
    rng = random.Random(2)
    texts = set()
    for _ in range(30):
        text, methods = augment_once(REVIEWS[1], settings, UNIGRAMS, MASK, rng)
        words = text.split()
        assert methods == ("pos",)
        for word, tag in zip(words, REVIEWS[1].tags):
            assert word in UNIGRAMS.words[tag]
        texts.add(text)
    assert len(texts) > 1


def test_ngram_windows_are_contiguous_and_1_to_5_words():
    settings = AugmentSettings(p_mask=0, p_pos=0, p_ng=1.0, ngram_max=5, n_iter=1)
    rng = random.Random(3)
    source = REVIEWS[1].text
    lengths = set()
    for _ in range(200):
        text, methods = augment_once(REVIEWS[1], settings, UNIGRAMS, MASK, rng)
        assert methods == ("ngram",)
        n = len(text.split())
        lengths.add(n)
        assert 1 <= n <= 5
        assert f" {text} " in f" {source} "
    assert lengths == {1, 2, 3, 4, 5}


def test_sampled_sentence_is_one_of_the_reviews_sentences():
    settings = AugmentSettings(p_mask=0, p_pos=0, p_ng=0, p_sentence=1.0)
    rng = random.Random(4)
    out = [c for _ in range(10) for c in augment_review(REVIEWS[1], settings, UNIGRAMS, MASK, rng)]
    sentences = [t for t, m in out if m == ("sentence",)]
    assert len(sentences) == 10
    assert set(sentences) <= set(REVIEWS[1].sentences)


def test_same_seed_gives_same_output_and_another_seed_differs():
    settings = AugmentSettings(p_sentence=0.3, n_iter=20)
    a, _ = augment_all(REVIEWS, settings, MASK, seed=7)
    b, _ = augment_all(REVIEWS, settings, MASK, seed=7)
    c, _ = augment_all(REVIEWS, settings, MASK, seed=8)
    assert a == b
    assert a != c


def test_duplicates_originals_and_empties_are_dropped():
    settings = AugmentSettings(p_mask=0.1, p_pos=0.1, p_ng=0.5, p_sentence=0.5, n_iter=40)
    examples, record = augment_all(REVIEWS, settings, MASK, seed=0)
    texts = [t for t, _, _ in examples]
    assert len(texts) == len(set(texts))
    assert not set(texts) & {r.text for r in REVIEWS}
    assert all(t.strip() for t in texts)
    assert record["dropped"]["duplicate"] > 0 and record["dropped"]["copy_of_original"] > 0


def test_target_size_is_met_exactly_and_the_rounds_follow_from_it():
    settings = AugmentSettings(p_sentence=0.3)
    small, small_record = augment_all(REVIEWS, settings, MASK, seed=0, target_size=10)
    large, large_record = augment_all(REVIEWS, settings, MASK, seed=0, target_size=60)
    assert len(small) == 10 and len(large) == 60
    assert all(set(methods) <= {"mask", "pos", "ngram", "sentence"} and methods for _, methods, _ in large)
    # more examples from the same 3 reviews take more rounds over them; every review is a source
    assert 1 <= small_record["rounds"] < large_record["rounds"]
    assert {index for _, _, index in large} == {0, 1, 2}
    assert not small_record["saturated"] and not large_record["saturated"]


def test_a_target_beyond_what_the_reviews_allow_stops_and_says_so():
    # only 1-word windows and nothing else: at most as many texts as distinct words
    settings = AugmentSettings(p_mask=0, p_pos=0, p_ng=1.0, ngram_max=1, p_sentence=0)
    examples, record = augment_all(REVIEWS, settings, MASK, seed=0, target_size=10_000)
    distinct_words = {w for r in REVIEWS for w in r.words}
    assert record["saturated"] and 0 < len(examples) <= len(distinct_words)


def test_a_word_budget_gives_long_reviews_fewer_examples_in_the_same_words():
    settings = AugmentSettings(p_sentence=0.3)
    long_reviews = [review(" ".join([r.text] * 4), r.tags * 4, r.sentences) for r in REVIEWS]
    short, short_record = augment_all(REVIEWS, settings, MASK, seed=0, target_size=60, max_words=200)
    long, long_record = augment_all(long_reviews, settings, MASK, seed=0, target_size=60, max_words=200)
    for examples, record in ((short, short_record), (long, long_record)):
        words = [len(text.split()) for text, _, _ in examples]
        assert record["n_words"] == sum(words) and record["word_capped"]
        # the budget stops the set at the first example that reaches it
        assert sum(words) >= 200 > sum(words[:-1])
    assert len(long) < len(short) < 60


def test_a_word_budget_the_target_size_never_reaches_changes_nothing():
    settings = AugmentSettings(p_sentence=0.3)
    plain, _ = augment_all(REVIEWS, settings, MASK, seed=0, target_size=20)
    capped, record = augment_all(REVIEWS, settings, MASK, seed=0, target_size=20, max_words=100_000)
    assert capped == plain and not record["word_capped"] and record["max_words"] == 100_000


def test_pos_swap_draws_words_by_their_training_set_frequency():
    # "goed" is an Adj 9 times in the training set, "slecht" once: a uniform draw would give 50/50
    reviews = [review("goed .", ["Adj", "Punc"])] * 9 + [review("slecht .", ["Adj", "Punc"])]
    unigrams = PosUnigrams(reviews)
    rng = random.Random(0)
    draws = [unigrams.sample("Adj", rng) for _ in range(4000)]
    share = draws.count("goed") / len(draws)
    assert 0.87 < share < 0.93, share


def test_masking_is_decided_per_word_not_per_review():
    long_review = review(" ".join(f"w{i}" for i in range(40)), ["N"] * 40)
    settings = AugmentSettings(p_mask=0.5, p_pos=0, p_ng=0)
    rng = random.Random(0)
    shares = []
    for _ in range(200):
        text, _ = augment_once(long_review, settings, UNIGRAMS, MASK, rng)
        shares.append(text.split().count(MASK) / 40)
    # per word: about half of each example's words are masked; per review it would be all or none
    assert all(0.15 < s < 0.85 for s in shares)
    assert 0.45 < sum(shares) / len(shares) < 0.55


def test_bad_probability_is_refused():
    with pytest.raises(InputError, match="p_ng must be a probability"):
        augment_all(REVIEWS, AugmentSettings(p_ng=1.5), MASK, seed=0)


def test_methods_record_only_what_shaped_the_kept_words():
    settings = AugmentSettings(p_mask=0.3, p_pos=0.3, p_ng=1.0, ngram_max=1, n_iter=1)
    rng = random.Random(5)
    for _ in range(200):
        text, methods = augment_once(REVIEWS[1], settings, UNIGRAMS, MASK, rng)
        assert "ngram" in methods
        assert ("mask" in methods) == (text == MASK)


LEXICON = {"Adj": ["fantastisch", "saai"], "N": ["roman"]}


def test_lexicon_swaps_draw_that_share_from_the_list_and_keep_the_tag():
    unigrams = PosUnigrams(REVIEWS, LEXICON, p_lexicon=0.5)
    rng = random.Random(0)
    draws = [unigrams.sample("Adj", rng) for _ in range(4000)]
    from_list = sum(d in LEXICON["Adj"] for d in draws) / len(draws)
    assert 0.46 < from_list < 0.54, from_list
    assert set(draws) <= set(LEXICON["Adj"]) | set(UNIGRAMS.words["Adj"])
    # a tag the list lacks keeps the training set's words
    assert {unigrams.sample("Prep", rng) for _ in range(50)} == {"met"}


def test_a_lexicon_at_share_zero_repeats_the_run_without_one():
    settings = AugmentSettings(p_mask=0.1, p_pos=0.3, p_ng=0.25, p_sentence=0.3, n_iter=10)
    plain, _ = augment_all(REVIEWS, settings, MASK, seed=3)
    unused, _ = augment_all(REVIEWS, settings, MASK, seed=3, lexicon=LEXICON)
    used, _ = augment_all(REVIEWS, AugmentSettings(p_mask=0.1, p_pos=0.3, p_ng=0.25, p_sentence=0.3, n_iter=10,
                                                   p_lexicon=1.0), MASK, seed=3, lexicon=LEXICON)
    assert plain == unused
    assert any(w in text.split() for text, _, _ in used for w in ("fantastisch", "saai", "roman"))


def test_open_tags_are_the_many_worded_classes_of_any_tagset():
    nouns = [f"ding{i}" for i in range(30)]
    adjectives = [f"mooi{i}" for i in range(30)]
    reviews = [review(f"de {n} is {a} .", ["Art", "N", "V", "Adj", "Punc"]) for n, a in zip(nouns, adjectives)]
    reviews.append(review("ach", ["Int"]))  # one token: every word distinct, but too rare to judge
    assert open_tags(reviews) == {"N", "Adj"}


def test_tag_lexicon_keeps_single_tokens_of_the_given_tags():
    import spacy

    class WordTagger:  # tags a word alone, as the augmenter's tagger does
        def __init__(self, tags):
            self.nlp, self.tags = spacy.blank("nl"), tags

        def pipe(self, words, batch_size):
            for doc in self.nlp.pipe(words):
                for token in doc:
                    token.tag_ = self.tags.get(token.text, "X")
                yield doc

    tagger = WordTagger({"fiets": "N", "snel": "Adj", "de": "Art"})
    assert tag_lexicon(tagger, ["fiets", "snel", "de", "onbekend", "e-mail adres"], {"N", "Adj"}) == \
        {"N": ["fiets"], "Adj": ["snel"]}


def every_word_a_noun(folder):
    """A stand-in tagger: tags every token N and splits sentences, untrained."""
    import spacy

    nlp = spacy.blank("nl")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("attribute_ruler").add([[{}]], {"TAG": "N"})
    nlp.to_disk(folder)
    return folder


def test_unlabelled_texts_are_augmentation_sources_and_never_copied_in(tmp_path, tiny_corpus, tiny_teacher):
    """The label step labels every unlabelled text as it is; the augmenter only varies them."""
    import json

    import spacy
    from spacy.tokens import DocBin

    from conftest import run_script

    nlp = spacy.blank("nl")
    texts = [f"Ongelezen recensie nummer {i} over een boek." for i in range(12)]
    DocBin(docs=list(nlp.pipe(texts))).to_disk(tmp_path / "unlabelled.spacy")
    out = tmp_path / "augmented.spacy"
    result = run_script("augment.py", tiny_corpus / "train.spacy", every_word_a_noun(tmp_path / "tagger"),
                        tiny_teacher, out, "--target-size", 300, "--unlabelled", tmp_path / "unlabelled.spacy")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    docs = list(DocBin().from_disk(out).get_docs(nlp.vocab))
    assert len(docs) == 300 and not set(d.text for d in docs) & set(texts)
    assert any("Ongelezen" in d.text or "recensie nummer" in d.text for d in docs)  # varied from them
    record = json.loads((tmp_path / "augmented.augment.json").read_text())
    assert record["n_unlabelled_sources"] == 12 and record["n_reviews"] == 40
