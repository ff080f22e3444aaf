"""What the languages workflow runs: which languages, from which reviews files, under
which teacher; and the pooled teacher, one teacher fine-tuned on the training (and dev)
reviews of several languages, which then labels every language's synthetic set. A
language outside the pool is marked: its teacher saw no labelled review of it
(cross-lingual transfer)."""
import json
import os
import random
from pathlib import Path
from typing import Dict, List, Optional

from scripts.shared.cli_support import InputError
from scripts.experiments.points import SHARED_DATA, make_subproject, run_part

OWN, POOLED = "own", "pooled"
# Language code for the pooled teacher's tokenizer: spaCy's multi-language class.
POOLED_LANG = "xx"


def language_default(root: Path, name: str, var: str) -> str:
    """A var as project.yml gives it to a run of language `name` (e.g. `reviews` is
    assets/reviews/{lang}.jsonl there): the pattern stays stated once, in project.yml."""
    from weasel.util import load_project_config

    return str(load_project_config(root, overrides={"vars.lang": name})["vars"][var])


def plan_languages(langs: str, lang: str, reviews: str, root: Path) -> Dict[str, Path]:
    """lang -> its reviews file: each listed language reads project.yml's `reviews` for its
    lang (assets/reviews/{lang}.jsonl), and the project's own `lang` reads `reviews` as
    given (so a user adds a language, or points one at their own file, with --vars.lang
    and --vars.reviews)."""
    names = [x.strip() for x in langs.split(",") if x.strip()]
    if lang not in names:
        names.append(lang)
    plan = {}
    for name in names:
        path = (root / (reviews if name == lang else language_default(root, name, "reviews"))).resolve()
        if not path.exists():
            raise InputError(f"{path}: no reviews for '{name}'; run `spacy project run convert-reviews`, drop "
                             f"'{name}' from langs in [languages] of configs/study.cfg, or pass --vars.lang {name} --vars.reviews FILE")
        plan[name] = path
    return plan


# How often the gate and evaluate read each dev and test word (fp32 and a faster runtime,
# scoring and timing): only a weight in run_order's estimate.
DEV_TEST_READS = 4


def teacher_words(corpus: Path, synthetic_size: int, words_per_example: int) -> Optional[float]:
    """A language's share of the run, as the words its teacher reads: the transfer set
    (synthetic_size examples as long as its training reviews, or the word budget if that
    is less) plus dev and test, read DEV_TEST_READS times. None if its corpus is not made
    yet. On the five languages' corpora, their measured one-core minutes came in this order."""
    from spacy.tokens import DocBin
    import spacy

    from scripts.transfer.augment import count_words  # words as the word budget counts them

    splits = {s: corpus / f"{s}.spacy" for s in ("train", "dev", "test")}
    if not all(path.exists() for path in splits.values()):
        return None
    vocab = spacy.blank("xx").vocab
    words = {s: [count_words(d.text) for d in DocBin().from_disk(path).get_docs(vocab)] for s, path in splits.items()}
    per_example = sum(words["train"]) / max(1, len(words["train"]))
    if words_per_example > 0:
        per_example = min(per_example, words_per_example)
    return synthetic_size * per_example + DEV_TEST_READS * (sum(words["dev"]) + sum(words["test"]))


def run_order(names: List[str], own: str, estimates: Dict[str, Optional[float]]) -> List[str]:
    """The project's own language first (its seed routes make it the longest), then the
    others longest first, so that two lanes side by side end close together; languages
    without an estimate keep their listed order, last."""
    rest = [n for n in names if n != own]
    known = sorted((n for n in rest if estimates.get(n) is not None), key=lambda n: -estimates[n])
    return [n for n in names if n == own] + known + [n for n in rest if estimates.get(n) is None]


def parse_teacher_langs(text: str, plan: Dict[str, Path]) -> List[str]:
    """The languages whose training reviews the pooled teacher learns from: "all" every
    language run; "own" (or empty) [], one teacher per language; else the listed ones."""
    if text.strip() in (OWN, ""):
        return []
    if text.strip() == "all":
        return list(plan)
    names = list(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    unknown = [n for n in names if n not in plan]
    if unknown:
        raise InputError(f"teacher_langs '{text}': {', '.join(unknown)} not among the languages run "
                         f"({', '.join(plan)}); the pooled teacher learns from their training splits, so add "
                         "them to langs in [languages] of configs/study.cfg or drop them from teacher_langs")
    return names


def pool_corpora(sources: List[Path], target: Path, seed: int) -> None:
    """The docs of every source in one shuffled DocBin (so that any first-n use, such as the
    teacher's linear probe, sees every language); rewritten only if its contents change
    (weasel hashes it)."""
    import spacy
    from spacy.tokens import DocBin

    vocab = spacy.blank(POOLED_LANG).vocab
    docs = [doc for source in sources for doc in DocBin(store_user_data=True).from_disk(source).get_docs(vocab)]
    random.Random(seed).shuffle(docs)
    data = DocBin(store_user_data=True, docs=docs).to_bytes()
    if not target.exists() or target.read_bytes() != data:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def pooled_teacher(folder: Path, root: Path, corpora: Dict[str, Path], teacher_langs: List[str],
                   passed: Dict) -> Dict:
    """Fine-tune one teacher on the pooled train (and dev) reviews of `teacher_langs`."""
    project = make_subproject(folder / "teacher", root, SHARED_DATA)
    for split in ("train", "dev"):
        pool_corpora([corpora[lang] / f"{split}.spacy" for lang in teacher_langs],
                     project / "corpus" / POOLED / f"{split}.spacy", int(passed.get("seed", 0)))
    # the classes the teacher step reads, as each language's corpus step wrote them
    labels = [json.loads((corpora[lang] / "stats.json").read_text())["labels"] for lang in teacher_langs]
    stats = json.dumps({"mode": "pooled", "langs": teacher_langs, "labels": labels[0]}, indent=2)
    stats_path = project / "corpus" / POOLED / "stats.json"
    if not stats_path.exists() or stats_path.read_text() != stats:  # unchanged bytes: the teacher step skips
        stats_path.write_text(stats)
    overrides = {**passed, "lang": POOLED_LANG, "run": POOLED}
    record = {"wall_seconds": {}, "reused": []}
    record_path = project / "training" / POOLED / "teacher_record.json"
    if record_path.exists():
        record = json.loads(record_path.read_text())
    run_part(project, ["teacher"], overrides, f"pooled teacher ({', '.join(teacher_langs)})", record, "teacher")
    record_path.write_text(json.dumps(record, indent=2))
    schedule = json.loads((project / "training" / POOLED / "teacher" / "schedule.json").read_text())
    return {"path": project / "training" / POOLED / "teacher" / "model-last", "langs": teacher_langs,
            "n_train": schedule["n_examples"], "steps": schedule["max_steps"], **record}


def link_teacher(project: Path, run: str, teacher: Path) -> None:
    """Point the language's teacher folder at the shared teacher (a relative link)."""
    link = project / "training" / run / "teacher" / "model-last"
    link.parent.mkdir(parents=True, exist_ok=True)
    target = os.path.relpath(teacher, link.parent)
    if link.is_symlink() and os.readlink(link) == target:
        return
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        raise InputError(f"{link}: a teacher trained for this language is in the way of the pooled one; remove "
                         f"{project} to run the pooled teacher there")
    link.symlink_to(target, target_is_directory=True)
