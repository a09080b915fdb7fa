"""Training texts that look like what people type: case, digits, punctuation, lines up to the demo's width.

The embedded corpus (CPython docstrings) is mostly lower case with few digits, so a model trained
on it writes capitals, numbers and leading quotes badly. `typed_lines` keeps its words (prose
nobody here wrote) and rewrites each line the way people type:

    words     runs of consecutive prose words (code-like tokens dropped)
    length    L = min + (max - min) u^2, u ~ U(0, 1): mostly short lines, a tail up to the demo's
              80 characters (the demo wraps pages at 40 by default)
    case      sentence case (p 0.7), capitalised words (proper nouns, p 0.15 each), a word
              (p 0.08) or the whole line (p 0.05) in capitals
    numbers   a number (p 0.4): years, counts, times, prices, percentages, dates, decimals,
              thousands, ordinals, phone numbers
    marks     quotes around a span or at the start (p 0.15), a leading dash (p 0.04), brackets
              (p 0.05), contractions and possessives (p 0.15), a comma / colon / semicolon
              inside (p 0.2), and an end mark: . (0.45) ? (0.1) ! (0.07) , (0.05) ... (0.03)

Every transformation is drawn from one seeded generator, so a seed gives the same lines.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

_WORD = re.compile(r"^[A-Za-z][a-z]*(?:'[a-z]+)?[.,;:!?]?$")
_CONTRACTIONS = (("do not", "don't"), ("is not", "isn't"), ("it is", "it's"), ("can not", "can't"),
                 ("will not", "won't"), ("you are", "you're"), ("they are", "they're"), ("I am", "I'm"))


def _number(rng: np.random.Generator) -> str:
    kinds: tuple[Callable[[], str], ...] = (
        lambda: str(int(rng.integers(1900, 2031))),
        lambda: str(int(rng.integers(0, 100))),
        lambda: f"{int(rng.integers(1, 13))}:{int(rng.integers(0, 60)):02d}",
        lambda: f"${int(rng.integers(1, 500))}.{int(rng.integers(0, 100)):02d}",
        lambda: f"{int(rng.integers(1, 100))}%",
        lambda: f"{int(rng.integers(1, 13))}/{int(rng.integers(1, 29))}/{int(rng.integers(1990, 2031))}",
        lambda: f"{int(rng.integers(0, 20))}.{int(rng.integers(0, 10))}",
        lambda: f"{int(rng.integers(1, 99))},{int(rng.integers(0, 1000)):03d}",
        lambda: (lambda n: f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}")(int(rng.integers(1, 32))),
        lambda: f"{int(rng.integers(200, 1000))}-{int(rng.integers(0, 10000)):04d}",
    )
    return kinds[int(rng.integers(len(kinds)))]()


def _case(words: list[str], rng: np.random.Generator) -> list[str]:
    if rng.random() < 0.05:
        return [w.upper() for w in words]
    out = [w.capitalize() if rng.random() < 0.15 else w for w in words]
    if rng.random() < 0.08:
        i = int(rng.integers(len(out)))
        out[i] = out[i].upper()
    if rng.random() < 0.7:
        out[0] = out[0][:1].upper() + out[0][1:]
    return out


def _marks(words: list[str], rng: np.random.Generator) -> list[str]:
    if rng.random() < 0.15:
        if len(words) > 1 and rng.random() < 0.6:
            a = int(rng.integers(len(words)))
            b = int(rng.integers(a, min(len(words), a + 4)))
            q = '"' if rng.random() < 0.7 else "'"
            words[a], words[b] = q + words[a], words[b] + q
        else:
            words[0] = '"' + words[0]
    if rng.random() < 0.05 and len(words) > 2:
        a = int(rng.integers(len(words) - 1))
        b = int(rng.integers(a, min(len(words), a + 3)))
        words[a], words[b] = "(" + words[a], words[b] + ")"
    if rng.random() < 0.15:
        i = int(rng.integers(len(words)))
        words[i] = words[i] + ("'s" if rng.random() < 0.6 else "'")
    if rng.random() < 0.2 and len(words) > 2:
        i = int(rng.integers(len(words) - 1))
        words[i] = words[i] + str(rng.choice([",", ",", ",", ":", ";"]))
    if rng.random() < 0.04:
        words.insert(0, "-" if rng.random() < 0.5 else "--")
    return words


def _end(line: str, rng: np.random.Generator) -> str:
    r = rng.random()
    for mark, p in ((".", 0.45), ("?", 0.1), ("!", 0.07), (",", 0.05), ("...", 0.03)):
        if r < p:
            return line.rstrip(".,;:!?") + mark
        r -= p
    return line


def type_like_people(words: Sequence[str], rng: np.random.Generator) -> str:
    """One line of prose words -> the same words as people type them (module docstring)."""
    text = " ".join(words)
    for plain, short in _CONTRACTIONS:
        if plain in text and rng.random() < 0.5:
            text = text.replace(plain, short, 1)
    out = _case(text.split(" "), rng)
    if rng.random() < 0.4:
        out.insert(int(rng.integers(len(out) + 1)), _number(rng))
    return _end(" ".join(_marks(out, rng)), rng)


def typed_lines(prose: str, n_lines: int, min_chars: int, max_chars: int, writable: set[str] | frozenset[str], seed: int = 0) -> list[str]:
    """`n_lines` distinct lines of `min_chars`..`max_chars` characters, built from the words of
    `prose` and typed as people type (case, numbers, punctuation); only `writable` characters."""
    words = [w.strip(".,;:!?").lower() for w in prose.split() if _WORD.match(w)]
    words = [w for w in words if w]
    if len(words) < 10:
        return []
    rng = np.random.default_rng([int(seed), 31337])
    seen: set[str] = set()
    out: list[str] = []
    budget = 20 * n_lines
    while len(out) < n_lines and budget > 0:
        budget -= 1
        target = min_chars + int((max_chars - min_chars) * rng.random() ** 2)
        start = int(rng.integers(len(words)))
        run: list[str] = []
        length = -1
        for word in words[start:]:
            if length + 1 + len(word) > max(target - 4, 1) and run:
                break
            run.append(word)
            length += 1 + len(word)
        line = type_like_people(run, rng) if run else ""
        if not min_chars <= len(line) <= max_chars or line in seen or any(ch not in writable for ch in line):
            continue
        seen.add(line)
        out.append(line)
    return out


HELDOUT_PATH = Path(__file__).with_name("everyday_heldout.txt")


def heldout_texts() -> list[str]:
    """The held-out everyday lines (benchmarks/everyday_texts.py: where they come from)."""
    return [line for line in HELDOUT_PATH.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
