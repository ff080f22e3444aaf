"""Which models the seeds train: the shipped student and the baseline, and with `routes`
each of them also with the teacher's vectors switched the other way, so that the report
shows what the soft targets and the vectors each carry."""
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from thinc.api import Config
from wasabi import msg

from scripts.evaluation.measure import paired_difference
from scripts.experiments.points import CONFIGS

# Where the ensemble's embedding layer says whether it reads static vectors.
VECTORS_SWITCH = "components.textcat.model.tok2vec.embed.include_static_vectors"


def vectors_setting(config_path: Path) -> Optional[bool]:
    """The config's include_static_vectors, or None when its model has no such switch there."""
    node = Config().from_disk(config_path, interpolate=False)
    for key in VECTORS_SWITCH.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, bool) else None


def plan_variants(routes: bool, configs: Dict[str, Path] = CONFIGS) -> Dict[str, Tuple[str, List[str]]]:
    """name -> (model, extra overrides): student and baseline as configured, and with
    `routes` each also with its vectors switch the other way."""
    variants = {"student": ("student", []), "baseline": ("baseline", [])}
    if not routes:
        return variants
    for model in ("student", "baseline"):
        setting = vectors_setting(configs[model])
        if setting is None:
            msg.warn(f"{configs[model]} has no {VECTORS_SWITCH}: its route without/with vectors is not trained")
            continue
        name = f"{model}_{'no_vectors' if setting else 'vectors'}"
        variants[name] = (model, [f"--{VECTORS_SWITCH}", str(not setting).lower()])
    return variants


def vectors_effect(variants: Dict[str, Tuple[str, List[str]]], chosen: Dict, indices) -> Dict:
    """For student and baseline: accuracy with the teacher's vectors minus without them
    (paired, pooled over seeds), where both were trained."""
    out = {}
    for name, (model, extra) in variants.items():
        if name == model:
            continue
        with_vectors = name.endswith("_vectors") and not name.endswith("_no_vectors")
        on, off = (name, model) if with_vectors else (model, name)
        out[model] = paired_difference(chosen[on], chosen[off], indices)
    return out
