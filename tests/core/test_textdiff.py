"""The part-by-part unified diff: difflib's output for one part, and a patch `git apply` takes for many."""

from __future__ import annotations

import difflib
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from webhook.textdiff import unified_diff

WORDS = ("a: 1", "b: 2", "- name: x", "  value: y", "---", "", "# note", "spec:")


def edited(rng: random.Random, lines: list[str]) -> list[str]:
    """Lines with a few random inserts, deletes and replacements."""
    out = list(lines)
    for _ in range(rng.randint(0, 4)):
        at = rng.randint(0, len(out))
        action = rng.choice(("insert", "delete", "replace"))
        if action == "insert" or not out:
            out[at:at] = [rng.choice(WORDS) for _ in range(rng.randint(1, 3))]
        elif action == "delete":
            del out[min(at, len(out) - 1)]
        else:
            out[min(at, len(out) - 1)] = rng.choice(WORDS) + " (changed)"
    return out


def keep_ends(text: str) -> list[str]:
    return [line + "\n" for line in text.split("\n")[:-1]] + (
        [text.split("\n")[-1]] if text and text[-1] != "\n" else []
    )


def text(lines: list[str], final_newline: bool) -> str:
    return "\n".join(lines) + ("\n" if final_newline and lines else "")


@pytest.mark.parametrize("seed", range(300))
def test_one_part_gives_difflibs_diff(seed: int) -> None:
    rng = random.Random(seed)
    old_lines = [rng.choice(WORDS) for _ in range(rng.randint(0, 30))]
    old = text(old_lines, rng.random() < 0.8)
    new = text(edited(rng, old_lines), rng.random() < 0.8)
    context = rng.choice((0, 1, 3, 5))
    expected = difflib.unified_diff(keep_ends(old), keep_ends(new), "a/f", "b/f", n=context)
    marked = [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in expected]
    assert list(unified_diff([old], [new], "a/f", "b/f", context)) == marked


def parts(rng: random.Random) -> tuple[list[str], list[str]]:
    """A multi-document manifest and its edit: some documents changed, often at their first or last line."""
    old_parts, new_parts = [], []
    for index in range(rng.randint(1, 12)):
        lines = ([] if index == 0 else ["---"]) + [rng.choice(WORDS) for _ in range(rng.randint(1, 8))]
        new = edited(rng, lines) if rng.random() < 0.5 else lines
        if rng.random() < 0.3:
            new = [*new, "appended: at the end"]
        old_parts.append(text(lines, True))
        new_parts.append(text(new, True))
    if rng.random() < 0.3:  # no final newline
        old_parts[-1] = old_parts[-1][:-1]
        new_parts[-1] = new_parts[-1][:-1] if new_parts[-1] != old_parts[-1] + "\n" else old_parts[-1]
    return old_parts, new_parts


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
# git apply needs context lines to place a hunk; diffs without context are compared with difflib above.
@pytest.mark.parametrize("seed", range(40))
def test_many_parts_give_a_patch_git_applies(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    old_parts, new_parts = parts(rng)
    (tmp_path / "m.yaml").write_text("".join(old_parts))
    diff = "".join(unified_diff(old_parts, new_parts, "a/m.yaml", "b/m.yaml", rng.choice((1, 2, 3))))
    if "".join(old_parts) == "".join(new_parts):
        assert diff == ""
        return
    (tmp_path / "d.patch").write_text(diff)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    applied = subprocess.run(["git", "apply", "d.patch"], cwd=tmp_path, capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr + diff
    assert (tmp_path / "m.yaml").read_text() == "".join(new_parts)


def test_context_runs_across_part_boundaries() -> None:
    old = ["a: 1\nb: 2\n", "---\nc: 3\nd: 4\n"]
    new = ["a: 1\nb: 2\nadded: 1\n", "---\nc: 3\nd: 4\n"]
    assert "".join(unified_diff(old, new, "a/m", "b/m")) == (
        "--- a/m\n+++ b/m\n@@ -1,5 +1,6 @@\n a: 1\n b: 2\n+added: 1\n ---\n c: 3\n d: 4\n"
    )
