"""Each property of the Tang-style augmenters that the student's training data relies on."""
import random

import pytest

from augment import AugmentSettings, PosUnigrams, TaggedReview, augment_all, augment_once, augment_review
from cli_support import InputError

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
    settings = AugmentSettings(p_mask=0, p_pos=0, p_ng=0, p_sentence=1.0, n_iter=10)
    out = augment_review(REVIEWS[1], settings, UNIGRAMS, MASK, random.Random(4))
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
    examples, dropped = augment_all(REVIEWS, settings, MASK, seed=0)
    texts = [t for t, _, _ in examples]
    assert len(texts) == len(set(texts))
    assert not set(texts) & {r.text for r in REVIEWS}
    assert all(t.strip() for t in texts)
    assert dropped["duplicate"] > 0 and dropped["copy_of_original"] > 0


def test_target_size_caps_the_total_and_methods_are_recorded():
    settings = AugmentSettings(p_sentence=0.3, n_iter=40)
    examples, dropped = augment_all(REVIEWS, settings, MASK, seed=0, max_examples=10)
    assert len(examples) == 10 and dropped["over_target_size"] > 0
    assert all(set(methods) <= {"mask", "pos", "ngram", "sentence"} and methods for _, methods, _ in examples)


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
