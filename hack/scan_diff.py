"""Differential check of webhook.documents' text scans: this tree against another commit's documents.py.

Over random YAML-ish texts (tokens that the scans look for, in random order, single and multi-document,
sparse and dense in flow indicators), benchmark workloads with random edits, and the YAML files under tests/
and the shared fixtures, both sides must agree exactly on:
  - check_characters (the error message and line, or none),
  - the split into documents and their lines,
  - _exact_flags (which documents go to the exact loader) and _needs_exact of every document.
A document the new side sends to the exact loader and the old one does not is a false alarm added: listed
apart (it only costs speed); one the new side misses is a bug. Exit status 1 on any disagreement.

    .venv/bin/python hack/scan_diff.py --against main --texts 400000
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))

from bench_render import workload  # noqa: E402

from webhook import documents as new  # noqa: E402
from webhook.errors import InputError  # noqa: E402

TOKENS = [
    *[": ", ":", " ", "  ", "- ", "-", "\n", "\n", "\n  ", "\n    ", "\n- ", "\n  - "] * 3,
    *["[", "]", "{", "}", ", ", ",", "#", "'", '"', "\r\n", "\r", "\t", "?", "? ", "?\n"],
    *["0", "00", "0644", "1", "12", "8080", "100m", "128Mi", "1Gi", "1e3", "0x1F", "0o17", "0b1", "1_000"],
    *["1:20", "2001-12-14", "1.5", ".5", "-.5", "+1", "-1", "+.inf", ".inf", ".nan", ".", "..", "...", "+"],
    *["y", "Y", "n", "N", "o", "O", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "OFF"],
    *["OnFailure", "Never", "None", "nginx", "name", "noX", "oNe", "yesX", "Opaque", "ok", "nodes", "nO"],
    *["=", "a=b", "~", "null", "true", "abc", "a", "x-y", "w-4", "--port=8080", "--", "---", "----"],
    *["\n---\n", "\n---", "\n--- ", "\n---\t", "\n--- # c\n", "\n...\n", "\n...", "%YAML 1.1\n", "\n%"],
    *["&a ", "*a", "!", "!!str ", "<<", "<<: *a", "|\n", ">-\n", "\ufeff", "\x85", "\u2028", "é"],
    *["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1f", "\x7f", "\x9f", "\ud800", "\ufffe", "\uffff"],
    *[
        "123456789012345678",
        "1234567890123456789",
        "\n" + " " * 79,
        "\n" + " " * 80,
        " " * 81,
        "- " * 9,
        "- " * 10,
        "- - ",
        "[" * 25,
        "{" * 25,
    ],
]
RARE = {
    "\x00",
    "\x01",
    "\x08",
    "\x0b",
    "\x0c",
    "\x1f",
    "\x7f",
    "\x9f",
    "\ud800",
    "\ufffe",
    "\uffff",
    "\ufeff",
}
COMMON = [t for t in TOKENS if t not in RARE]


# What both loaders agree on: most of a text is made of these, so that each trigger is often alone in one.
ORDINARY = [
    *["abc", "a", "name", "image", "x-y", "w-4", "app", "nginx", "true", "null", "OnFailure", "Never", "v1"],
    *[" ", "  ", ": ", "- ", "\n", "\n  ", "\n    ", "\n  - ", "# c", "'q'", '"dq"', "8080", "100m", "128Mi"],
]


def random_text(rng: random.Random) -> str:
    tokens = COMMON if rng.random() < 0.9 else TOKENS
    rate = rng.choice([0.01, 0.03, 0.1, 0.3, 1.0])
    parts = [rng.choice(tokens if rng.random() < rate else ORDINARY) for _ in range(rng.randint(1, 60))]
    if rng.random() < 0.1:  # dense flow: many indicators, past _flow_flags' budget
        parts += [
            rng.choice(["[", "{", ",", ", 0644", "[yes", "{on", "]", "}"])
            for _ in range(rng.randint(20, 200))
        ]
        rng.shuffle(parts)
    return "".join(parts)


def random_stream(rng: random.Random) -> str:
    """Several documents, some of them workloads, one of them perhaps with many brackets."""
    docs = []
    for _ in range(rng.randint(2, 12)):
        kind = rng.random()
        if kind < 0.4:
            docs.append(edited(rng, workload(rng.randint(0, 999))))
        elif kind < 0.5:
            docs.append("k: [" + ", ".join("[a]" for _ in range(rng.randint(20, 30))) + "]\n")
        else:
            docs.append(random_text(rng))
    separator = rng.choice(["\n---\n", "---\n", "\n--- # c\n"])
    return separator.join(docs)


def edited(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(0, 3)):
        at = rng.randint(0, len(text))
        text = text[:at] + rng.choice(COMMON) + text[at:]
    return text


def fixture_texts() -> Iterator[str]:
    roots = [REPO / "tests", REPO / "examples", REPO.parent / "shared" / "fixtures"]
    for root in roots:
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
                try:
                    yield path.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    continue


def load_old(rev: str) -> ModuleType:
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:webhook/documents.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    spec = importlib.util.spec_from_loader("documents_old", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["documents_old"] = module
    exec(compile(source, f"{rev}:webhook/documents.py", "exec"), module.__dict__)
    return module


def characters(module: ModuleType, text: str) -> str | None:
    try:
        module.check_characters("t", text)
    except InputError as exc:
        return str(exc)
    return None


def split(module: ModuleType, text: str) -> tuple[list[str], list[int]]:
    """parse's split of a YAML source into documents and their first lines."""
    if hasattr(module, "_split"):
        return module._split(text)  # type: ignore[no-any-return]
    starts = [0, *(m.start() + 1 for m in module._SEPARATOR.finditer(text))]
    starts.append(len(text))
    raws = [text[begin:end] for begin, end in itertools.pairwise(starts)]
    if "%" in text:
        raws = module._join_directives(raws)
    lines = list(itertools.accumulate((raw.count("\n") for raw in raws[:-1]), initial=1))
    return raws, lines


class Tally:
    def __init__(self) -> None:
        self.texts = self.docs = self.exact = 0
        self.added: list[str] = []
        self.bugs: list[str] = []

    def compare(self, old: ModuleType, text: str) -> None:
        self.texts += 1
        before, after = characters(old, text), characters(new, text)
        if before != after:
            self.bugs.append(f"check_characters {before!r} -> {after!r} for {text!r}")
        old_split, new_split = split(old, text), split(new, text)
        if old_split != new_split:
            self.bugs.append(f"split {old_split!r} -> {new_split!r}")
            return
        raws = old_split[0]
        flags = (old._exact_flags(text, raws), new._exact_flags(text, raws))
        single = ([old._needs_exact(r) for r in raws], [new._needs_exact(r) for r in raws])
        self.docs += len(raws)
        self.exact += sum(flags[0])
        for what, (a, b) in (("_exact_flags", flags), ("_needs_exact", single)):
            for raw, was, now in zip(raws, a, b, strict=True):
                if was and not now:
                    self.bugs.append(f"{what} misses {raw!r} (in {text!r})")
                elif now and not was:
                    self.added.append(f"{what} adds {raw!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="main", metavar="REV")
    parser.add_argument("--texts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    old = load_old(args.against)
    rng = random.Random(args.seed)
    tally = Tally()
    start = time.perf_counter()
    for text in fixture_texts():
        tally.compare(old, text)
    fixtures = tally.texts
    for index in range(args.texts):
        tally.compare(old, random_stream(rng) if index % 4 == 0 else random_text(rng))
    print(
        f"{tally.texts:,} texts ({fixtures} fixture files, {args.texts:,} random, seed {args.seed}), "
        f"{tally.docs:,} documents, {tally.exact:,} to the exact loader (old); against {args.against}; "
        f"{time.perf_counter() - start:.0f} s"
    )
    print(f"false alarms added: {len(tally.added)}; disagreements otherwise: {len(tally.bugs)}")
    for line in tally.added[:20] + tally.bugs[:20]:
        print("  " + line[:400])
    sys.exit(1 if tally.bugs else 0)


if __name__ == "__main__":
    main()
