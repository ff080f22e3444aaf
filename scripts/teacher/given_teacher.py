"""A teacher the user brings, already fine-tuned: loaded as a spaCy pipeline whose
exclusive text classifier is named `textcat` and speaks the run's class names.

The var `teacher` names it:
  - a spaCy pipeline folder (config.cfg) with an exclusive `textcat` (any architecture,
    with or without a transformer), e.g. the teacher an earlier run of this project
    trained (training/RUN/teacher/model-last);
  - a Hugging Face sequence-classification model: a local folder (config.json) or a hub
    name (online only), wrapped by the `hf_textcat` component.
Its classes are matched to the data's: the var label_map renames them (e.g.
LABEL_0=NEG,LABEL_1=POS); without one, sentiment spellings (positive, neg, ...) read
as POS/NEG, as in the data. Multi-label teachers and heads of one class are refused.
"""
from pathlib import Path
from typing import Dict, List, Optional

from scripts.data.reviews import LABEL_ALIASES, format_label_map
from scripts.shared.cli_support import InputError
from scripts.teacher import hf_textcat  # noqa: F401  (registers the hf_textcat factory a saved teacher names)

TRAIN = "train"  # the var's value that fine-tunes teacher_backbone instead


def is_spacy_pipeline(path: Path) -> bool:
    return (path / "config.cfg").is_file()


def class_names(labels: List[str], label_map: Dict[str, str], spec: str) -> List[str]:
    """The teacher's labels as the run's classes (label_map, else sentiment spellings)."""
    if label_map:
        names = [label_map.get(label, label) for label in labels]
        dropped = [label for label, name in zip(labels, names) if not name]
        if dropped:
            raise InputError(f"{spec}: label_map maps the teacher's class {dropped[0]!r} to nothing; every class of "
                             "the teacher's head must map to a class (fix the var label_map)")
    elif all(label.lower() in LABEL_ALIASES for label in labels):
        names = [LABEL_ALIASES[label.lower()] for label in labels]
    else:
        names = list(labels)
    if len(set(names)) != len(names):
        raise InputError(f"{spec}: the teacher's classes {labels} become {names}, with a class twice; fix the var "
                         "label_map so that each of the teacher's classes maps to a class of its own")
    return names


def check_classes(teacher_classes: List[str], data_classes: List[str], spec: str, source: str,
                  label_map: Dict[str, str], subset: bool = False) -> None:
    """The teacher must know every class of the data (and, unless `subset`, no other)."""
    extra, missing = set(teacher_classes) - set(data_classes), set(data_classes) - set(teacher_classes)
    if missing or (extra and not subset):
        mapping = f" (label_map {format_label_map(label_map)})" if label_map else ""
        raise InputError(f"{spec}: the teacher's classes {sorted(teacher_classes)}{mapping} are not the data's "
                         f"{sorted(data_classes)} ({source}); map them with the var label_map, e.g. "
                         f"{','.join(f'{t}={d}' for t, d in zip(sorted(extra) or ['LABEL_0'], sorted(missing) or ['POS']))}")


def find_textcat(nlp, spec: str) -> str:
    """The name of the pipeline's one exclusive text classifier."""
    from spacy.pipeline import TextCategorizer
    from spacy.pipeline.textcat_multilabel import MultiLabel_TextCategorizer

    from scripts.teacher.hf_textcat import HFTextCategorizer

    multi = [name for name, pipe in nlp.pipeline if isinstance(pipe, MultiLabel_TextCategorizer)]
    exclusive = [name for name, pipe in nlp.pipeline if isinstance(pipe, (TextCategorizer, HFTextCategorizer))
                 and not isinstance(pipe, MultiLabel_TextCategorizer)]
    if not exclusive:
        if multi:
            raise InputError(f"{spec}: its text classifier '{multi[0]}' is multi-label (textcat_multilabel); only "
                             "exclusive classes are supported for now: give a teacher with a `textcat`")
        raise InputError(f"{spec}: a spaCy pipeline without a textcat (pipes: {', '.join(nlp.pipe_names) or 'none'}); "
                         "give a pipeline with a trained textcat, a Hugging Face classifier, or set the var teacher "
                         "to train")
    return "textcat" if "textcat" in exclusive else exclusive[0]


def load_spacy_teacher(path: Path, label_map: Dict[str, str]):
    import spacy

    try:
        nlp = spacy.load(path)
    except Exception as err:  # noqa: BLE001  (spaCy, catalogue and thinc each raise their own)
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise InputError(f"{path}: a spaCy pipeline folder that does not load ({first[:200]}); check that it is a "
                         "complete pipeline and that the packages it needs are installed") from None
    name = find_textcat(nlp, str(path))
    textcat = nlp.get_pipe(name)
    labels = list(textcat.labels)
    if len(labels) < 2:
        raise InputError(f"{path}: its textcat '{name}' has {len(labels)} class{'es' if len(labels) != 1 else ''} "
                         f"({labels}); a teacher needs two classes or more")
    names = class_names(labels, label_map, str(path))
    if names != labels:
        textcat.cfg["labels"] = names  # the head's order is kept: only the names change
    if name != "textcat":
        nlp.rename_pipe(name, "textcat")
    return nlp


def load_hf_teacher(spec: str, lang: str, label_map: Dict[str, str]):
    import spacy
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    local = Path(spec).exists()
    try:
        config = AutoConfig.from_pretrained(spec)
    except (OSError, ValueError) as err:
        if local:
            raise InputError(f"{spec}: neither a Hugging Face classifier (no usable config.json) nor a spaCy pipeline "
                             "(no config.cfg); give a fine-tuned model folder, a spaCy pipeline with a textcat, or "
                             "set the var teacher to train") from None
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise InputError(f"teacher '{spec}': not a local folder, and the Hugging Face hub cannot give it "
                         f"({first[:160]}); check the name and your connection, or give a local folder") from None
    architectures = config.architectures or []
    if not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise InputError(f"{spec}: a Hugging Face model without a sequence-classification head (architectures "
                         f"{architectures or 'none'}); give a fine-tuned ...ForSequenceClassification model, or set "
                         "the var teacher to train and this model as teacher_backbone to fine-tune it")
    if config.problem_type == "multi_label_classification":
        raise InputError(f"{spec}: a multi-label classifier (problem_type multi_label_classification); only "
                         "exclusive classes are supported for now")
    if config.num_labels < 2:
        raise InputError(f"{spec}: its head has {config.num_labels} output (regression or one class); a teacher "
                         "needs two classes or more")
    labels = [str(config.id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels)]
    names = class_names(labels, label_map, spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec)
        model = AutoModelForSequenceClassification.from_pretrained(spec)
    except (OSError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise InputError(f"{spec}: the classifier's weights or tokenizer do not load ({first[:160]}); check that "
                         "the folder holds both (save_pretrained of model and tokenizer)") from None
    nlp = spacy.blank(lang)
    nlp.add_pipe("hf_textcat", name="textcat").set_model(model, tokenizer, names)
    return nlp


def load_given_teacher(spec: str, lang: str, label_map: Optional[Dict[str, str]] = None):
    """The teacher `spec` names as a spaCy pipeline with a `textcat` over the run's classes."""
    label_map = label_map or {}
    path = Path(spec)
    if path.exists() and not path.is_dir():
        raise InputError(f"{spec}: a file, not a model folder; point the var teacher at a folder (or a hub name)")
    if path.is_dir() and is_spacy_pipeline(path):
        return load_spacy_teacher(path, label_map)
    return load_hf_teacher(spec, lang, label_map)


def teacher_kind(nlp) -> str:
    """'hf' (a wrapped Hugging Face classifier), 'transformer' (a spaCy pipeline with a
    transformer component) or 'spacy' (any other spaCy textcat)."""
    from scripts.teacher.hf_textcat import HFTextCategorizer

    if isinstance(nlp.get_pipe("textcat"), HFTextCategorizer):
        return "hf"
    return "transformer" if "transformer" in nlp.pipe_names else "spacy"
