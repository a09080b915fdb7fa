"""Build the held-out everyday texts (`seqgen/families/handwriting/everyday_heldout.txt`).

Source: the `fortunes-min` Debian package (BSD fortune(6) cookie files `fortunes`, `literature`,
`riddles`: quotations, jokes and riddles, typed by people, with capitals, digits, quotes and
dashes; nothing here was written by us and none of it is in the training corpus). Each cookie is
put on one line (typographic marks to ASCII), wrapped at word boundaries to the demo's default
page width of 40 characters, lines of under 10 characters dropped; then 48 lines are drawn at
random (seed 0) and 16 more among the lines holding a digit (digits are rare in the cookies).

    apt-get download fortunes-min && dpkg-deb -x fortunes-min_*.deb fortunes
    .venv/bin/python benchmarks/everyday_texts.py fortunes/usr/share/games/fortunes
"""

from __future__ import annotations

import random
import sys
import textwrap
from pathlib import Path

from seqgen.families.handwriting.hershey import normalise_text
from seqgen.families.handwriting.texts import HELDOUT_PATH

WIDTH = 40


def cookie_lines(folder: Path) -> list[str]:
    lines: list[str] = []
    for name in ("fortunes", "literature", "riddles"):
        for cookie in (folder / name).read_text(encoding="latin-1").split("\n%\n"):
            text = normalise_text(cookie)
            if text and all(" " <= ch <= "~" for ch in text):
                lines += [line for line in textwrap.wrap(text, WIDTH) if len(line) >= 10]
    return sorted(set(lines))


def main(folder: str) -> None:
    lines = cookie_lines(Path(folder))
    rng = random.Random(0)
    chosen = rng.sample(lines, 48)
    digits = [line for line in lines if any(ch.isdigit() for ch in line) and line not in chosen]
    chosen += rng.sample(digits, 16)
    header = ("# held-out everyday lines: cookies of the fortunes-min Debian package (BSD fortune(6)), wrapped at "
              "40 characters; built by benchmarks/everyday_texts.py\n")
    HELDOUT_PATH.write_text(header + "\n".join(chosen) + "\n", encoding="utf-8")
    print(f"{len(chosen)} lines -> {HELDOUT_PATH}")


if __name__ == "__main__":
    main(sys.argv[1])
