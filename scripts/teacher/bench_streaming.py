"""Benchmark: labelling an unlabelled file streams it. Peak memory at two file sizes, and a
run interrupted and resumed.

A tiny teacher (a spaCy bag-of-words textcat trained here on generated sentences, so
that the teacher's own cost is small beside the file's) labels generated files of
`small` and `large` lines, each in a fresh process whose peak resident memory is read
from the operating system (getrusage of the finished child). The corpus step's pass over
the same files (copying them to unlabelled.txt and sampling augmentation sources) is
measured the same way. Then the large file is labelled again, killed once a few chunks
are on disk, and run once more: the chunks written before the kill are kept as they are,
and every line ends up labelled once. Writes a JSON record and prints a table.
"""
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer
from wasabi import msg

from scripts.shared.cli_support import InputError, run_cli, script_command

POS_WORDS = ["great", "lovely", "superb", "fine", "good", "excellent", "strong", "gripping"]
NEG_WORDS = ["dull", "poor", "awful", "weak", "bad", "boring", "slow", "broken"]
FILLER = ["the", "book", "story", "end", "plot", "style", "was", "and", "really", "quite", "a", "its", "read",
          "chapter", "author", "writing", "of", "in", "this", "one"]
# Run a command, then print the peak resident memory (KiB on Linux) of the largest child it waited for.
PEAK_RSS = ("import resource, subprocess, sys\n"
            "code = subprocess.run(sys.argv[1:]).returncode\n"
            "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.exit(code)\n")


def sentence(rng: random.Random) -> str:
    words = rng.sample(FILLER, 6) + [rng.choice(POS_WORDS if rng.random() < 0.5 else NEG_WORDS)]
    rng.shuffle(words)
    return " ".join(words)


def build_teacher(folder: Path, seed: int) -> Path:
    import spacy
    from spacy.training import Example

    rng = random.Random(seed)
    nlp = spacy.blank("en")
    textcat = nlp.add_pipe("textcat", config={"model": {"@architectures": "spacy.TextCatBOW.v3",
                                                        "exclusive_classes": True, "ngram_size": 1,
                                                        "no_output_layer": False}})
    for label in ("POS", "NEG"):
        textcat.add_label(label)
    examples = []
    for _ in range(400):
        text = sentence(rng)
        positive = any(w in POS_WORDS for w in text.split())
        examples.append(Example.from_dict(nlp.make_doc(text), {"cats": {"POS": float(positive),
                                                                         "NEG": float(not positive)}}))
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(3):
        for start in range(0, len(examples), 32):
            nlp.update(examples[start:start + 32], sgd=optimizer)
    nlp.to_disk(folder)
    return folder


def write_lines(path: Path, n: int, seed: int) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for _ in range(n):
            f.write(sentence(rng) + "\n")
    return path


def peak_rss(cmd) -> tuple:
    """(peak resident MB of `cmd`'s process, seconds), in a fresh wrapper process."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS, *map(str, cmd)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise InputError(f"benchmark command failed: {' '.join(map(str, cmd))}: "
                         f"{(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
    kb = int(next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("PEAK_RSS_KB")))
    return kb / 1024, seconds


def label_command(teacher: Path, lines: Path, output: Path, chunk_size: int):
    return [*script_command("scripts.transfer.label_with_teacher"), str(teacher), str(lines), str(output),
            "--chunk-size", str(chunk_size)]


def main(
    output_path: Path = typer.Argument(Path("training/benchmarks/streaming.json")),
    work_dir: Path = typer.Option(Path("training/benchmarks/streaming"), help="Files made for the benchmark"),
    small: int = typer.Option(100_000, help="Lines of the smaller file"),
    large: int = typer.Option(1_000_000, help="Lines of the larger file"),
    chunk_size: int = typer.Option(1000, help="Texts per labelled chunk (the label step's default)"),
    seed: int = typer.Option(0),
):
    if not 0 < small < large:
        raise InputError(f"small ({small}) and large ({large}): give 0 < small < large")
    work_dir.mkdir(parents=True, exist_ok=True)
    teacher = build_teacher(work_dir / "teacher", seed)
    result = {"chunk_size": chunk_size, "teacher": "spaCy bag-of-words textcat (no transformer)", "sizes": {}}
    for n in (small, large):
        lines = write_lines(work_dir / f"lines-{n}.txt", n, seed)
        corpus_cmd = [*script_command("scripts.data.make_corpus"), "", work_dir / f"corpus-{n}", "--no-gold",
                      "--teacher", teacher, "--unlabelled", lines, "--lang", "en", "--n-dev", 100, "--n-test", 100]
        corpus_mb, corpus_s = peak_rss(corpus_cmd)
        out = work_dir / f"labelled-{n}"
        label_mb, label_s = peak_rss(label_command(teacher, lines, out, chunk_size))
        chunks = len(list(out.glob("chunk-*.spacy")))
        result["sizes"][n] = {"label_peak_mb": round(label_mb, 1), "label_seconds": round(label_s, 1),
                              "label_docs_per_sec": round(n / label_s), "chunks": chunks,
                              "corpus_peak_mb": round(corpus_mb, 1), "corpus_seconds": round(corpus_s, 1)}
        msg.info(f"{n:,} lines: label peak {label_mb:.0f} MB in {label_s:.0f} s; corpus peak {corpus_mb:.0f} MB")
    ratio = result["sizes"][large]["label_peak_mb"] / result["sizes"][small]["label_peak_mb"]
    result["label_peak_ratio"] = round(ratio, 3)
    # interrupt and resume on the large file
    lines, out = work_dir / f"lines-{large}.txt", work_dir / "resumed"
    proc = subprocess.Popen(label_command(teacher, lines, out, chunk_size), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while proc.poll() is None and len(list(out.glob("chunk-*.spacy"))) < 5:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("chunk-*.spacy")}
    again = subprocess.run(label_command(teacher, lines, out, chunk_size), capture_output=True, text=True)
    if again.returncode != 0:
        raise InputError(f"the resumed run failed: {(again.stderr.strip().splitlines() or ['no output'])[-1]}")
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("chunk-*.spacy")}
    record = json.loads((out / "labelling.json").read_text())
    result["resume"] = {"chunks_before_kill": len(before), "chunks_after": len(after),
                        "kept_unchanged": sum(after.get(name) == stamp for name, stamp in before.items()),
                        "docs_labelled": record["n_docs"], "lines": large,
                        "complete": record["n_docs"] == large and len(after) == -(-large // chunk_size)}
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(result, indent=2))
    rows = [(f"{n:,}", v["label_peak_mb"], v["label_seconds"], v["label_docs_per_sec"], v["corpus_peak_mb"])
            for n, v in result["sizes"].items()]
    msg.table(rows, header=("lines", "label peak MB", "label s", "docs/s", "corpus peak MB"), divider=True)
    resume = result["resume"]
    msg.info(f"Label step peak memory, {large:,} against {small:,} lines: {ratio:.3f}x")
    msg.info(f"Killed after {resume['chunks_before_kill']} chunks; the rerun kept {resume['kept_unchanged']} of them "
             f"and labelled {resume['docs_labelled']:,} of {large:,} lines ({'complete' if resume['complete'] else 'INCOMPLETE'})")
    msg.good(f"Wrote {output_path}")


if __name__ == "__main__":
    run_cli(main)
