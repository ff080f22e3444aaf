"""General word lists: the most frequent words of a language, from wordfreq (never from dev
or test text), for the teacher-derived vectors and the POS swap's lexicon."""
import re
from itertools import islice
from typing import List

from scripts.shared.cli_support import InputError

WORD = re.compile(r"^[^\W\d_][\w'-]*$")  # words only: no numbers, punctuation or URLs


def frequent_words(lang: str, n_words: int, var: str = "vectors_words") -> List[str]:
    """The n_words most frequent words (no numbers, punctuation or URLs) of wordfreq's large list."""
    import wordfreq

    have = sorted(wordfreq.available_languages("large"))
    if lang not in have:
        raise InputError(f"lang '{lang}': wordfreq has no large word list for it (it has {', '.join(have)}); "
                         f"set the var {var} to 0 to use only the training reviews' words")
    return list(islice((w for w in wordfreq.iter_wordlist(lang, "large") if WORD.match(w)), n_words))
