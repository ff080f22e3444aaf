"""Shared plumbing for the project's command-line scripts.

Every script raises `InputError` for input a user can fix. `run_cli` turns it
into one clear line on stderr and a non-zero exit, with no traceback.
"""
import hashlib
import sys
from pathlib import Path
from typing import Callable, List, Sequence

import typer
from wasabi import color


class InputError(Exception):
    """Bad input: the message names what is wrong, where, and how to fix it."""


def script_command(module: str) -> List[str]:
    """The command that runs one of the project's scripts, e.g. `scripts.shared.train`:
    as a module from the project folder, as project.yml runs them (each stage's folder is
    a package, so a script imports the others as `scripts.STAGE.NAME`)."""
    return [sys.executable, "-m", module]


def require(path: Path, what: str, step: str) -> Path:
    """The one "file exists, else run step X first" check every script makes."""
    if not Path(path).exists():
        raise InputError(f"{path}: missing {what}; run `spacy project run {step}` first")
    return Path(path)


def unregistered(config) -> list:
    """The (registry, name) pairs a config refers to that nothing has registered (a
    registry spaCy does not know yet, such as one a plugin adds on import, is left to it)."""
    from spacy.util import registry

    found = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key.startswith("@") and isinstance(value, str) and hasattr(registry, key[1:]) \
                        and not registry.has(key[1:], value):
                    found.append((key[1:], value))
                walk(value)
    walk(config)
    return found


def load_pipeline(path: Path, what: str, step: str):
    """spacy.load(path), or one line when the folder is missing or its config names a
    function that no imported code registers: a model trained by an earlier version of
    this project (say, before its teacher used spaCy's own scorer), which `step` retrains."""
    import catalogue
    import spacy


    require(path, what, step)
    try:
        return spacy.load(path)
    except catalogue.RegistryError:
        config = spacy.util.load_config(Path(path) / "config.cfg", interpolate=False)
        missing = unregistered({key: config.get(key, {}) for key in ("nlp", "components")})  # what loading builds
        if not missing:
            raise
        names = ", ".join(f"{name} ({reg})" for reg, name in missing)
        raise InputError(f"{path}: {what} names {names}, which no code of this project registers now; it was "
                         f"trained by an earlier version: retrain it with `spacy project run {step}`") from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require_gpu(gpu_id: int) -> None:
    """Use GPU `gpu_id`, or say in one line that there is none; -1 means the CPU."""
    if gpu_id < 0:
        return
    import spacy

    try:
        spacy.require_gpu(gpu_id)
    except Exception as err:  # thinc raises ValueError, cupy/torch their own errors
        raise InputError(
            f"gpu_id {gpu_id}: no usable GPU on this machine ({str(err).strip() or type(err).__name__}); "
            "set the var gpu_id to -1 to run on the CPU"
        ) from None


def fail_line(text: str) -> None:
    # wasabi wraps at the terminal width; an error stays one line so logs and tests can read it
    line = f"✘ {text}"
    print(color(line, fg="red", bold=True) if sys.stderr.isatty() else line, file=sys.stderr)


def cli_app(main: Callable, config_overrides: bool = False) -> typer.Typer:
    """`main` as a typer command; with config_overrides, unknown `--a.b value` options
    reach it through its typer.Context, as `spacy train` takes them."""
    app = typer.Typer(add_completion=False)
    settings = {"allow_extra_args": True, "ignore_unknown_options": True} if config_overrides else {}
    app.command(context_settings=settings)(main)
    return app


SETTINGS_FILES = {"--settings": "configs/settings/STEP.cfg", "--study": "configs/study.cfg"}


def read_settings_file(path: Path, flag: str = "--settings"):
    from thinc.api import Config

    if not Path(path).is_file():
        raise InputError(f"settings file '{path}' does not exist; point to a copy of {SETTINGS_FILES[flag]}")
    try:
        return Config().from_disk(path)
    except Exception as err:  # thinc's parse and interpolation errors
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise InputError(f"{path}: not a readable settings file ({first}); compare it with "
                         f"{SETTINGS_FILES[flag]}") from None


def settings_args(args: List[str], main: Callable, sections: Sequence[str], flag: str = "--settings") -> List[str]:
    """`args` with each `--settings FILE` (or `flag`) replaced by the options that the
    files' `sections` set (key `n_dev` -> `--n-dev VALUE`) for every option of `main` that
    `args` does not give itself. configs/settings/ holds each step's settings in a file of
    its own (so weasel reruns only the steps whose file changed), configs/study.cfg the
    study's; an option on the command line wins."""
    import inspect

    rest, found = [], {}
    i = 0
    while i < len(args):
        if args[i] != flag:
            rest.append(args[i])
            i += 1
            continue
        if i + 1 >= len(args):
            raise InputError(f"{flag} needs a file, such as {SETTINGS_FILES[flag]}")
        path = Path(args[i + 1])
        found.update({name: (path, values) for name, values in read_settings_file(path, flag).items()})
        i += 2
    if not found:
        return rest
    missing = [s for s in sections if s not in found]
    if missing:
        raise InputError(f"{flag}: no [{missing[0]}] section in {', '.join(sorted({str(p) for p, _ in found.values()}))}; "
                         + (f"give the file of that step too (configs/settings/{missing[0]}.cfg)" if flag == "--settings"
                            else f"copy it from {SETTINGS_FILES[flag]}"))
    options = set(inspect.signature(main).parameters)
    given = {a.split("=", 1)[0] for a in rest if a.startswith("--")}
    for section in sections:
        for key, value in found[section][1].items():
            option = "--" + key.replace("_", "-")
            if key in options and option not in given:
                rest += [option, str(value).lower() if isinstance(value, bool) else str(value)]
                given.add(option)
    return rest


def run_cli(main: Callable, config_overrides: bool = False, settings: Sequence[str] = (),
            study: Sequence[str] = ()) -> None:
    """Run `main` as a command-line script; `settings` and `study`: the sections of the
    --settings and --study files it reads (settings_args)."""
    try:
        args = settings_args(sys.argv[1:], main, settings) if settings else sys.argv[1:]
        args = settings_args(args, main, study, "--study") if study else args
        cli_app(main, config_overrides)(args=args)
    except InputError as err:
        fail_line(str(err))
        sys.exit(1)


def run_here(main: Callable, args: List[str], config_overrides: bool = False) -> bool:
    """Run a script's `main` with command-line `args` in this process, as `python -m` would
    run it in another (a driver that trains many models saves each one the seconds that
    importing spaCy, torch and transformers takes); False if it failed, with its one line,
    or spaCy's message or the traceback, already printed."""
    import traceback

    command = typer.main.get_command(cli_app(main, config_overrides))
    try:
        command.main(args=[str(a) for a in args], standalone_mode=False)
        return True
    except InputError as err:
        fail_line(str(err))
    except SystemExit as err:  # spaCy's own msg.fail(..., exits=1)
        return err.code in (0, None)
    except Exception as err:  # noqa: BLE001
        if callable(getattr(err, "show", None)):  # a usage error: the line the command line would print
            err.show()
        else:  # a bug: shown in full, as the child process showed it
            traceback.print_exc()
    return False
