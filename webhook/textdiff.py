"""Unified diff of a text whose parts changed independently (a manifest's documents), in linear time.

difflib matches the whole text at once: quadratic on big repetitive manifests (1,000 workloads took 30 s).
Here each changed part is matched alone, the edit scripts are joined, and hunks are cut from the joined
script with context running across part boundaries, so the result is a diff of the whole text that `patch`
and `git apply` take. For a text of one part the output is difflib.unified_diff's, line for line.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence

Opcode = tuple[str, int, int, int, int]  # difflib's: tag, old start, old end, new start, new end


def unified_diff(
    old_parts: Sequence[str], new_parts: Sequence[str], fromfile: str, tofile: str, context: int = 3
) -> Iterator[str]:
    """Lines of a unified diff; a last line without a newline is marked as diff and patch expect."""
    old, new, script = _edit_script(old_parts, new_parts)
    hunks = list(_hunks(script, context))
    if not hunks:
        return
    yield f"--- {fromfile}\n"
    yield f"+++ {tofile}\n"
    for hunk in hunks:
        first, last = hunk[0], hunk[-1]
        yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n"
        for tag, i1, i2, j1, j2 in hunk:
            if tag == "equal":
                yield from (_line(" ", line) for line in old[i1:i2])
                continue
            yield from (_line("-", line) for line in old[i1:i2])
            yield from (_line("+", line) for line in new[j1:j2])


def _line(sign: str, line: str) -> str:
    return sign + line if line.endswith("\n") else f"{sign}{line}\n\\ No newline at end of file\n"


def _edit_script(
    old_parts: Sequence[str], new_parts: Sequence[str]
) -> tuple[list[str], list[str], list[Opcode]]:
    old: list[str] = []
    new: list[str] = []
    script: list[Opcode] = []
    for before, after in zip(old_parts, new_parts, strict=True):
        a, b = _lines(before), _lines(after)
        if before == after:
            codes: Sequence[Opcode] = [("equal", 0, len(a), 0, len(b))] if a else []
        else:
            codes = difflib.SequenceMatcher(None, a, b).get_opcodes()
        i0, j0 = len(old), len(new)
        for tag, i1, i2, j1, j2 in codes:
            if tag == "equal" and script and script[-1][0] == "equal":
                # one run of unchanged lines, split only by a part boundary
                script[-1] = ("equal", script[-1][1], i0 + i2, script[-1][3], j0 + j2)
            else:
                script.append((tag, i0 + i1, i0 + i2, j0 + j1, j0 + j2))
        old += a
        new += b
    return old, new, script


def _lines(text: str) -> list[str]:
    """Lines as diff and patch see them: ended by "\\n" only (str.splitlines also splits at \\r, \\f, ...)."""
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def _hunks(script: list[Opcode], context: int) -> Iterator[list[Opcode]]:
    """Changes with up to `context` unchanged lines around; changes closer than twice that share a hunk."""
    hunk: list[Opcode] = []
    for number, (tag, i1, i2, j1, j2) in enumerate(script):
        if tag != "equal":
            hunk.append((tag, i1, i2, j1, j2))
            continue
        if hunk:  # the context after the hunk so far
            keep = min(i2 - i1, context)
            hunk.append((tag, i1, i1 + keep, j1, j1 + keep))
            if i2 - i1 <= 2 * context and number < len(script) - 1:
                # the rest of this run is the next change's leading context: one hunk
                hunk[-1] = (tag, i1, i2, j1, j2)
                continue
            yield hunk
            hunk = []
        if number < len(script) - 1:  # leading context of the next change
            keep = min(i2 - i1, context)
            hunk = [(tag, i2 - keep, i2, j2 - keep, j2)] if keep else []
    if any(tag != "equal" for tag, *_ in hunk):
        yield hunk


def _range(start: int, stop: int) -> str:
    """A hunk's range as unified diffs write it: 1-based start, and the length unless it is 1."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"
