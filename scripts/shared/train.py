"""Train a pipeline from a config with a schedule that fits the data size.

`spacy train` counts in fixed steps: with a small corpus, 125 total steps or an
evaluation every 40 steps can mean the only evaluation is step 0. This script counts
the batches the config's own reader and batcher make from the training corpus, then
runs `spacy train` for the config's `max_epochs` over that data (at least `min_steps`)
with `evals` evenly spaced dev evaluations, the last one on the final step, and a
`warmup_linear` learning rate (if the config uses one) stretched over the same steps.
Extra `--section.key value` options are config overrides, as for `spacy train`.

Memory guard: a transformer's activations grow with the tokens in a batch, and 16 whole
movie reviews (en, about 780 tokens each) took over 21 GB. For a pipeline with a
transformer whose batches average more than `max_batch_tokens`, each batch is split into
`accumulate_gradient` sub-batches: the optimizer still steps once per batch on the
summed gradients, so the training is the same with less memory.
"""
import json
import math
import time
from pathlib import Path
from typing import Dict, List

import spacy
import typer
from spacy.cli._util import parse_config_overrides
from spacy.util import load_config, registry
from thinc.api import Config
from wasabi import msg

from scripts.shared.cli_support import InputError, cli_app, require_gpu, run_cli, run_here, unregistered

CODE_HINT = ("scripts/student/distillation.py for the student and baseline, "
             "scripts/teacher/teacher_callbacks.py for the teacher")


def import_code(code: str) -> None:
    """Import each comma-separated file that registers functions a config names, as
    `spacy train --code` does. A file of the project's scripts/ is imported as its module
    (scripts.student.distillation), so a driver that imported it already keeps one copy."""
    import importlib

    from scripts.shared.fingerprint import file_module

    for item in (c.strip() for c in code.split(",")):
        if not item:
            continue
        path = Path(item)
        if path.suffix != ".py" or not path.is_file():
            raise InputError(f"--code {item}: no such Python file; pass the file that registers what the config "
                             f"names (the project's: {CODE_HINT})")
        module = file_module(path)
        if module:
            importlib.import_module(module)
        else:
            spacy.util.import_file(path.stem, path)


def count_batches(config: Config) -> tuple:
    """(examples, batches, tokens) in one epoch of the training corpus, as `spacy train`
    will see them."""
    section = config["training"]["train_corpus"].split(".")[-1]
    blocks = {"corpus": config["corpora"][section], "batcher": config["training"]["batcher"]}
    resolved = registry.resolve(blocks)
    nlp = spacy.blank(config["nlp"]["lang"])
    examples = list(resolved["corpus"](nlp))
    batches = sum(1 for _ in resolved["batcher"](examples))
    return len(examples), batches, sum(len(eg.predicted) for eg in examples)


def check_labelled(config: Config) -> None:
    """Every training doc needs cats: a doc without them would be trained toward no label
    (the soft losses pull it to the uniform distribution) without a word."""
    from spacy.tokens import DocBin

    vocab = spacy.blank("xx").vocab
    for key in ("train", "synthetic", "original"):
        path = config["paths"].get(key)
        if path is None:
            continue
        docs = list(DocBin().from_disk(path).get_docs(vocab))
        missing = sum(1 for doc in docs if not doc.cats)
        if missing:
            raise InputError(f"{path}: {missing} of {len(docs)} docs have no labels (empty cats), so paths.{key} "
                             "cannot train a classifier; pass labelled docs (for synthetic data the `label` step's "
                             "synthetic.spacy, not augmented.spacy)")


def has_transformer(config: Config) -> bool:
    return any(str(c.get("factory", "")) == "transformer" for c in config["components"].values())


def accumulate_overrides(config: Config, n_batches: int, n_tokens: int, max_batch_tokens: int) -> dict:
    """Sub-batches for a transformer pipeline whose batches average more than
    max_batch_tokens tokens (0: never split)."""
    if max_batch_tokens <= 0 or not has_transformer(config) or n_batches == 0:
        return {}
    needed = math.ceil(n_tokens / n_batches / max_batch_tokens)
    if needed <= config["training"]["accumulate_gradient"]:
        return {}
    msg.info(f"Batches average {n_tokens / n_batches:.0f} tokens: each is split into {needed} sub-batches "
             "(accumulate_gradient) to bound memory; the optimizer still steps once per batch")
    return {"training.accumulate_gradient": needed}


# Layers that are nothing but a lookup in the static vectors table.
STATIC_VECTOR_LAYERS = ("spacy.StaticVectors.v2", "distill.StaticVectorsEmbed.v1")


def uses_static_vectors(config: Config) -> bool:
    """Whether any embedding layer in the pipeline's components reads static vectors."""
    def walk(node):
        if isinstance(node, dict):
            if node.get("include_static_vectors") is True or node.get("@architectures") in STATIC_VECTOR_LAYERS:
                return True
            return any(walk(v) for v in node.values())
        return False
    return walk(config["components"])


def vectors_overrides(config: Config, config_path: Path) -> dict:
    """Load `[paths] vectors` only for a config that uses them, so that switching
    `include_static_vectors` is the one edit that turns the teacher's vectors on or off
    (unused vectors would only make the saved model bigger)."""
    vectors = config["paths"].get("vectors")
    if uses_static_vectors(config):
        if vectors is None or not Path(vectors).exists():
            raise InputError(f"{config_path}: include_static_vectors is true but paths.vectors = {vectors} "
                             "does not exist; run the `vectors` step, or set include_static_vectors = false")
        return {}
    if vectors is not None:
        msg.info(f"{config_path} does not use static vectors: {vectors} is not loaded")
        return {"paths.vectors": None}
    return {}


# Written beside model-best/ and model-last/: what the model was trained from.
INPUTS_RECORD = "inputs.json"


def training_signature(params: Dict, override_args: List[str]) -> str:
    """What a model trained by this script depends on, wherever it is written: the options,
    the config overrides (in any order), and the contents of the config, of every file or
    folder an override names, of the --code files and of the project code they and this
    script import. The output folder is left out, so two folders trained from the same
    inputs (the `all` run's student and seed 0 of `seeds`) have one signature, and the
    seeds can copy the one already trained. paths.vectors counts only for a config that
    reads them: the script does not load them otherwise."""
    from scripts.shared import fingerprint as fp

    config_path = Path(params["config_path"])
    overrides = parse_config_overrides(list(override_args))
    if "paths.vectors" in overrides and config_path.is_file():
        try:
            config = load_config(config_path, overrides=overrides, interpolate=False)
        except Exception:  # noqa: BLE001  (a broken config fails in main with its own message)
            config = None
        if config is not None and not uses_static_vectors(config):
            overrides.pop("paths.vectors")
    code_paths = [Path(c.strip()) for c in str(params.get("code") or "").split(",") if c.strip()]
    modules = [m for m in map(fp.file_module, code_paths) if m]
    settings = {key: value for key, value in params.items() if key != "output_path"}
    named = [Path(v) for v in overrides.values() if isinstance(v, str) and v and Path(v).exists()]
    return fp.fingerprint({"options": settings, "overrides": overrides}, [config_path, *code_paths, *named],
                          skip=[params["output_path"]], entry=["scripts.shared.train", *modules])


def signature_of_args(args: List[str]) -> str:
    """training_signature of a `python -m scripts.shared.train ARGS` command, parsed as the
    script parses it (defaults included), without training."""
    command = typer.main.get_command(cli_app(main, config_overrides=True))
    ctx = command.make_context("train", [str(a) for a in args])
    return training_signature(ctx.params, ctx.args)


def plan_schedule(n_batches: int, epochs: int, min_steps: int, evals: int, warmup_share: float) -> dict:
    """Steps, evaluation interval and warm-up for `epochs` passes (at least `min_steps` steps)."""
    wanted = max(min_steps, epochs * n_batches, 1)
    evals = max(1, min(evals, wanted))
    eval_frequency = math.ceil(wanted / evals)
    max_steps = eval_frequency * evals  # the final step is an evaluation
    return {"steps_per_epoch": n_batches, "max_steps": max_steps, "eval_frequency": eval_frequency,
            "evals": evals, "warmup_steps": math.ceil(warmup_share * max_steps),
            "epochs_covered": round(max_steps / max(1, n_batches), 2)}


def schedule_overrides(config: Config, plan: dict) -> dict:
    overrides = {"training.max_steps": plan["max_steps"], "training.max_epochs": 0,
                 "training.eval_frequency": plan["eval_frequency"], "training.patience": 0}
    learn_rate = config["training"]["optimizer"].get("learn_rate")
    if isinstance(learn_rate, dict) and learn_rate.get("@schedules") == "warmup_linear.v1":
        overrides["training.optimizer.learn_rate.total_steps"] = plan["max_steps"]
        overrides["training.optimizer.learn_rate.warmup_steps"] = plan["warmup_steps"]
    return overrides


def main(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., help="Training config (.cfg)"),
    output_path: Path = typer.Argument(..., help="Writes model-best/, model-last/ and schedule.json here"),
    evals: int = typer.Option(8, help="Dev evaluations over the run, the last on the final step"),
    min_steps: int = typer.Option(0, help="Train at least this many steps, whatever the data size"),
    warmup_share: float = typer.Option(0.1, help="Share of the steps the learning rate warms up over"),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for the CPU"),
    max_batch_tokens: int = typer.Option(3000, help="Memory guard for transformer pipelines: batches that "
                                         "average more tokens are split into sub-batches (0: never)"),
    code: str = typer.Option("", help="Comma-separated Python files that register what the config names, as for "
                             f"`spacy train`: {CODE_HINT}"),
):
    from spacy.cli.train import train as spacy_train

    if not config_path.exists():
        raise InputError(f"{config_path}: no such config; check the path")
    if evals < 1 or min_steps < 0 or not 0.0 <= warmup_share < 1.0:
        raise InputError(f"evals must be >= 1, min-steps >= 0 and warmup-share in [0, 1); got "
                         f"{evals}, {min_steps}, {warmup_share}")
    require_gpu(gpu_id)
    import_code(code)
    signature = training_signature(ctx.params, ctx.args)
    overrides = parse_config_overrides(ctx.args)
    config = load_config(config_path, overrides=overrides, interpolate=True)
    missing = unregistered(config)
    if missing:
        names = ", ".join(f"{name} ({reg})" for reg, name in missing)
        raise InputError(f"{config_path} names {names}, which no imported code registers; pass the file that "
                         f"registers it with --code (the project's: {CODE_HINT})")
    epochs = config["training"]["max_epochs"]
    if epochs < 1:
        raise InputError(f"{config_path}: [training] max_epochs must be at least 1 (got {epochs}); "
                         "this script sets the steps from it")
    overrides.update(vectors_overrides(config, config_path))  # for spacy train; nothing below reads vectors
    for key, value in config["paths"].items():
        if key == "synthetic" and value is None and config["paths"].get("original") is not None:
            msg.info("paths.synthetic is null: training on paths.original alone, with no synthetic set")
            continue
        if key in ("train", "dev", "synthetic", "original") and (value is None or not Path(value).exists()):
            raise InputError(f"paths.{key} = {value}: no such corpus; run the step that makes it first")
    check_labelled(config)
    n_examples, n_batches, n_tokens = count_batches(config)
    if n_examples == 0:
        raise InputError(f"{config_path}: the training corpus is empty; check the paths")
    plan = plan_schedule(n_batches, epochs, min_steps, evals, warmup_share)
    overrides.update(accumulate_overrides(config, n_batches, n_tokens, max_batch_tokens))
    plan.update(n_examples=n_examples, epochs=epochs,
                accumulate_gradient=overrides.get("training.accumulate_gradient",
                                                  config["training"]["accumulate_gradient"]))
    msg.info(f"{n_examples} training examples in {n_batches} batches: {plan['max_steps']} steps "
             f"({plan['epochs_covered']} epochs), evaluated every {plan['eval_frequency']}")
    start = time.time()
    spacy_train(config_path, output_path, use_gpu=gpu_id,
                overrides={**overrides, **schedule_overrides(config, plan)})
    plan["wall_seconds"] = round(time.time() - start, 1)
    (output_path / "schedule.json").write_text(json.dumps(plan, indent=2))
    (output_path / INPUTS_RECORD).write_text(json.dumps({"signature": signature}))
    msg.good(f"Trained in {plan['wall_seconds']:.0f} s; wrote {output_path}")


def train_here(args: List[str]) -> bool:
    """`python -m scripts.shared.train ARGS` in this process: True if it trained."""
    return run_here(main, args, config_overrides=True)


if __name__ == "__main__":
    run_cli(main, config_overrides=True, settings=("train",))
