"""Training texts typed as people type (case, digits, punctuation, long lines) and the held-out everyday lines."""

from __future__ import annotations

import re

from seqgen.families.handwriting.hershey import writable_chars
from seqgen.families.handwriting.texts import heldout_texts, typed_lines

PROSE = " ".join(
    "the parser reads every token of the input and returns a tree of nodes that the compiler walks "
    "to emit code for each function call it meets in the module".split()
) * 20


def test_typed_lines_cover_what_users_type_within_the_bounds() -> None:
    writable = writable_chars()
    lines = typed_lines(PROSE, 300, 6, 80, writable, seed=1)
    assert len(lines) == 300 and len(set(lines)) == 300
    assert all(6 <= len(line) <= 80 for line in lines) and all(set(line) <= writable for line in lines)
    share = lambda pattern: sum(bool(re.search(pattern, line)) for line in lines) / len(lines)  # noqa: E731
    assert share(r"^[\"'(-]?[A-Z]") > 0.5          # sentence case
    assert share(r"\b[A-Z]{2,}\b") > 0.03           # words in capitals
    assert share(r"\d") > 0.25                      # numbers
    assert share(r"[.?!,]$") > 0.5 and share(r"[\"']") > 0.1
    assert max(len(line) for line in lines) > 60     # a tail of long lines up to the demo's width
    assert typed_lines(PROSE, 300, 6, 80, writable, seed=1) == lines
    assert typed_lines(PROSE, 300, 6, 80, writable, seed=2) != lines


def test_heldout_everyday_lines_are_real_typed_text_not_in_the_training_texts() -> None:
    held = heldout_texts()
    assert len(held) == 64 and not any(line.startswith("#") for line in held)
    assert sum(any(ch.isdigit() for ch in line) for line in held) >= 16
    assert sum(line[:1].isupper() for line in held) > 10
    training = set(typed_lines(PROSE, 300, 6, 80, writable_chars(), seed=0))
    assert not training & set(held)


def test_lines_a_model_cannot_write_are_left_out_and_counted(caplog, tmp_path) -> None:
    """legibility_texts=everyday or a file: a line with a character outside the model's vocabulary
    is left out, logged with the count; a set with nothing writable is refused."""
    from types import SimpleNamespace

    import pytest

    from seqgen.errors import SeqgenError
    from seqgen.families.handwriting.legibility import given_texts

    held = heldout_texts()
    vocab = sorted(set("".join(held)) - {"#"})
    model = SimpleNamespace(vocab=vocab, hparams=SimpleNamespace(max_text_chars=80))
    with_hash = [line for line in held if "#" in line]
    user_file = tmp_path / "texts.txt"
    user_file.write_text("\n".join(held), encoding="utf-8")
    for source in ("everyday", str(user_file)):
        caplog.clear()
        with caplog.at_level("WARNING"):
            texts = given_texts(source, model, 64)
        assert with_hash and texts == [line for line in held if "#" not in line]
        assert f"{len(with_hash)} of {len(held)} lines left out" in caplog.text and "vocabulary: #" in caplog.text
    user_file.write_text("####\n", encoding="utf-8")
    with pytest.raises(SeqgenError, match="can write none of its 1 lines"):
        given_texts(str(user_file), model, 64)
