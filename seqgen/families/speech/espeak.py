"""The embedded multi-speaker corpus: sentences of the embedded text corpus spoken by espeak-ng.

libespeak-ng is driven through ctypes in synchronous mode with phoneme events on
(``espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data, espeakINITIALIZE_PHONEME_EVENTS)``): the
synth callback receives the audio in chunks and, with them, an event list; each
``espeakEVENT_PHONEME`` event carries the phoneme's mnemonic and its exact position in the audio
(``event.sample``, a sample index). A phoneme's segment runs from its event to the next one (the
last to the end of the audio); the audio before the first phoneme is a leading pause ``_``. The
`espeak-ng` command line cannot give these positions, hence the library.

Determinism: the library runs in a helper process (``espeak_worker.py``) that forks a fresh child
from a pristine engine for every utterance and seeds its noise generators with the utterance's
own seed (drawn, like its speaker and rate, from ``random.Random(f"utt/{seed}/{index}")``). In
one process libespeak-ng is neither reproducible (its breath noise is seeded from the clock) nor
free of history (static synthesiser state carries from one utterance to the next); isolated, an
utterance's samples depend on its text, voice, prosody and seed only, so two prepares, or a
killed prepare run again, write byte-identical shards.

Where the library comes from: the pip package ``espeakng-loader`` (a dependency of seqgen, it
ships libespeak-ng.so and its data, so no root is needed); otherwise a system libespeak-ng
(Debian: ``apt-get install -y espeak-ng libespeak-ng1``). Neither: a SeqgenError saying how to install.

A *speaker* is a voice (language variant), a voice variant (``+m3``, ``+f2``, ``+klatt``...), a
base pitch and a pitch range; every utterance also draws its speaking rate (words per minute)
around the speaker's own rate. Phoneme mnemonics are stored without stress marks (``'`` and ``,``)
so the symbol set stays small; the pause phonemes ``_``, ``_:`` and ``_!`` all become ``_``.
"""

from __future__ import annotations

import atexit
import ctypes.util
import json
import logging
import random
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from seqgen.errors import SeqgenError
from seqgen.families.speech.timit import SkipCounter, Utterance

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "libespeak-ng was not found: `pip install espeakng-loader` (ships the library and its data; it is a "
    "seqgen dependency) or, as root, `apt-get install -y espeak-ng libespeak-ng1`"
)

VOICES: tuple[str, ...] = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan")
VARIANTS: tuple[str, ...] = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "croak", "Andy", "Denis", "Mr serious", "anika", "max", "steph",
)

WORKER = Path(__file__).with_name("espeak_worker.py")


def _library_paths() -> tuple[str, str]:
    """(libespeak-ng to load, its data folder or "" for the library's own default)."""
    try:
        import espeakng_loader

        return str(espeakng_loader.get_library_path()), str(espeakng_loader.get_data_path())
    except (ImportError, OSError):
        pass
    name = ctypes.util.find_library("espeak-ng")
    if name is None:
        raise SeqgenError(INSTALL_HINT)
    return name, ""


class Espeak:
    """libespeak-ng behind one helper process per Python process (seqgen/families/speech/espeak_worker.py):
    every utterance is synthesised in a fresh fork of a pristine engine, seeded with `seed`, so its
    audio depends on its arguments only (not on the clock, nor on what was spoken before)."""

    _instance: "Espeak | None" = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._paths = _library_paths()
        self._io_lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self.sample_rate = self._start()
        atexit.register(self.close)

    @classmethod
    def get(cls) -> "Espeak":
        with cls._lock:
            if cls._instance is None:
                cls._instance = Espeak()
            return cls._instance

    def _start(self) -> int:
        # -I -S: standard library only (no site-packages, no PYTHON* variables): starts and forks fast
        self._proc = subprocess.Popen([sys.executable, "-I", "-S", str(WORKER), *self._paths], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE)
        hello = self._header()
        if "error" in hello:
            self.close()
            raise SeqgenError(f"libespeak-ng could not be loaded ({hello['error']}); {INSTALL_HINT}")
        return int(hello["sample_rate"])

    def _header(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            code = self._proc.wait()
            self._proc = None
            raise SeqgenError(f"the espeak-ng helper process ended unexpectedly (exit status {code}); {INSTALL_HINT}")
        return json.loads(line)

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # EOF: the worker returns
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def synth(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int, seed: int = 0) -> tuple[np.ndarray, list[tuple[int, str]]]:
        """(int16 audio at `sample_rate`, [(sample, phoneme mnemonic)] in order); the same arguments
        give the same samples, in any process, in any order."""
        request = {"text": text, "voice": voice, "rate": int(rate), "pitch": int(pitch), "range": int(pitch_range), "seed": int(seed)}
        with self._io_lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()  # a fresh helper: the same pristine engine
            assert self._proc is not None and self._proc.stdin is not None and self._proc.stdout is not None
            try:
                self._proc.stdin.write(json.dumps(request).encode() + b"\n")
                self._proc.stdin.flush()
            except BrokenPipeError:
                self._proc = None
                raise SeqgenError(f"the espeak-ng helper process ended unexpectedly on {text[:40]!r}") from None
            header = self._header()
            if "error" in header:
                raise SeqgenError(str(header["error"]))
            n = int(header["samples"])
            payload = self._proc.stdout.read(2 * n)
        if len(payload) != 2 * n:
            raise SeqgenError(f"the espeak-ng helper process ended unexpectedly on {text[:40]!r}")
        return np.frombuffer(payload, dtype="<i2").astype(np.int16), [(int(s), str(p)) for s, p in header["events"]]


def clean_phoneme(name: str) -> str:
    """Stress marks dropped, every pause spelled ``_``."""
    name = name.replace("'", "").replace(",", "")
    return "_" if name.startswith("_") or not name else name


def events_to_segments(events: list[tuple[int, str]], n_samples: int) -> list[tuple[int, int, str]]:
    """Phoneme events -> segments tiling [0, n_samples): each phoneme until the next event, a
    leading pause before the first one, consecutive pauses merged; zero-length phonemes are dropped."""
    marks = [(min(max(s, 0), n_samples), clean_phoneme(p)) for s, p in events]
    if not marks or marks[0][0] > 0:
        marks.insert(0, (0, "_"))
    out: list[tuple[int, int, str]] = []
    for (start, phone), (end, _) in zip(marks, marks[1:] + [(n_samples, "")]):
        if end <= start:
            continue
        if out and phone == "_" and out[-1][2] == "_":
            out[-1] = (out[-1][0], end, "_")
        else:
            out.append((start, end, phone))
    return out


@dataclass(frozen=True)
class Speaker:
    name: str
    voice: str  # "en-us+f3"
    pitch: int  # 0..99
    pitch_range: int  # 0..99
    rate: int  # words per minute


def make_speakers(n: int, seed: int = 0, voices: Sequence[str] = VOICES, variants: Sequence[str] = VARIANTS) -> list[Speaker]:
    """`n` distinct voice/variant/pitch/rate combinations, deterministically."""
    rng = random.Random(f"speakers/{seed}")
    combos = [(v, var) for v in voices for var in variants]
    rng.shuffle(combos)
    out = []
    for index in range(n):
        voice, variant = combos[index % len(combos)]
        out.append(Speaker(f"s{index:03d}", f"{voice}+{variant}", rng.randint(25, 75), rng.randint(20, 80), rng.randint(140, 200)))
    return out


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SPEAKABLE = re.compile(r"^[A-Za-z0-9 ,.;:'?!()-]+$")


def sentences_from_corpus(text: str, min_words: int, max_words: int, seed: int = 0) -> list[str]:
    """Speakable sentences of `min_words`..`max_words` words from prose: plain ASCII letters,
    digits and punctuation only (no code, no symbols espeak would spell out), deduplicated."""
    seen: set[str] = set()
    out = []
    for paragraph in text.split("\n\n"):
        for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
            words = sentence.split()
            if not min_words <= len(words) <= max_words or not _SPEAKABLE.match(sentence) or sentence in seen:
                continue
            if not any(c.isalpha() for c in sentence) or "()" in sentence:
                continue
            seen.add(sentence)
            out.append(sentence)
    random.Random(f"sentences/{seed}").shuffle(out)
    return out


class EspeakCorpus:
    """`n_utterances` sentences of the embedded text corpus, each spoken by one of `n_speakers`
    synthetic speakers (see the module docstring); split at random by utterance (every speaker
    appears in every split, so the speaker embedding is known at test time).

    rate_jitter: each utterance's rate is the speaker's rate times a factor in [1 - j, 1 + j].
    """

    SPLITS = ("train", "valid", "test")

    def __init__(
        self,
        n_utterances: int = 1200,
        n_speakers: int = 24,
        min_words: int = 4,
        max_words: int = 12,
        rate_jitter: float = 0.15,
        split: Sequence[float] = (0.9, 0.05, 0.05),
        text_max_bytes: int = 1_500_000,
        voices: Sequence[str] | None = None,
        variants: Sequence[str] | None = None,
        seed: int = 0,
        name: str = "speech_espeak",
    ) -> None:
        from seqgen.io import split_fractions

        if n_utterances < 3:
            raise SeqgenError(f"data.corpus.n_utterances must be >= 3 (one per split), got {n_utterances}")
        if n_speakers < 1:
            raise SeqgenError(f"data.corpus.n_speakers must be >= 1, got {n_speakers}")
        if not 1 <= min_words <= max_words:
            raise SeqgenError(f"need 1 <= data.corpus.min_words <= max_words, got {min_words}, {max_words}")
        if not 0 <= rate_jitter < 1:
            raise SeqgenError(f"data.corpus.rate_jitter must be in [0, 1), got {rate_jitter}")
        self.n_utterances, self.n_speakers = int(n_utterances), int(n_speakers)
        self.min_words, self.max_words = int(min_words), int(max_words)
        self.rate_jitter = float(rate_jitter)
        self.split = split_fractions(split, key="data.corpus.split")
        self.text_max_bytes = int(text_max_bytes)
        self.voices = tuple(voices or VOICES)
        self.variants = tuple(variants or VARIANTS)
        self.seed = int(seed)
        self.name = name
        self._assignment: dict[str, list[tuple[int, str]]] | None = None

    @property
    def sample_rate(self) -> int:
        return Espeak.get().sample_rate

    def speakers(self) -> list[Speaker]:
        return make_speakers(self.n_speakers, self.seed, self.voices, self.variants)

    def _splits(self) -> dict[str, list[tuple[int, str]]]:
        if self._assignment is None:
            from seqgen.data.text.corpora import EmbeddedCorpus

            prose = EmbeddedCorpus(max_bytes=self.text_max_bytes).text().decode("utf-8", "replace")
            sentences = sentences_from_corpus(prose, self.min_words, self.max_words, self.seed)
            if len(sentences) < 3:
                raise SeqgenError(f"only {len(sentences)} speakable sentences in the embedded corpus: raise data.corpus.text_max_bytes")
            if len(sentences) < self.n_utterances:
                log.warning("only %d distinct sentences (asked for %d): raise data.corpus.text_max_bytes", len(sentences), self.n_utterances)
            chosen = sentences[: self.n_utterances]
            rng = random.Random(f"split/{self.seed}")
            out: dict[str, list[tuple[int, str]]] = {s: [] for s in self.SPLITS}
            for index, sentence in enumerate(chosen):
                r = rng.random()
                split = "train" if r < self.split["train"] else "valid" if r < self.split["train"] + self.split["valid"] else "test"
                out[split].append((index, sentence))
            self._assignment = out
        return self._assignment

    def iter_split(self, split: str, report: SkipCounter, expected_rate: int | None = None) -> Iterator[Utterance]:
        """Synthesise one split's utterances one at a time (flat memory)."""
        engine = Espeak.get()
        speakers = self.speakers()
        for index, sentence in self._splits()[split]:
            rng = random.Random(f"utt/{self.seed}/{index}")
            speaker = speakers[rng.randrange(len(speakers))]
            rate = int(round(speaker.rate * (1 + rng.uniform(-self.rate_jitter, self.rate_jitter))))
            noise_seed = rng.getrandbits(31)  # the synthesiser's noise (breathy voices), after speaker and rate
            uid = f"{split}-{index:06d}"
            try:
                pcm, events = engine.synth(sentence, speaker.voice, rate, speaker.pitch, speaker.pitch_range, seed=noise_seed)
            except SeqgenError as err:
                report.add("synthesis_failed", uid, str(err))
                continue
            if len(pcm) == 0 or not events:
                report.add("no_audio", uid, sentence[:60])
                continue
            segments = events_to_segments(events, len(pcm))
            yield Utterance(uid, speaker.name, sentence, pcm.astype(np.float32) / 32768.0, engine.sample_rate, segments,
                            extra={"voice": speaker.voice, "rate_wpm": rate, "pitch": speaker.pitch})

    def scoring(self, phonemes: list[str]) -> dict[str, Any]:
        """How the phoneme recogniser scores this corpus (meta.json "scoring"): allophone variants folded."""
        from seqgen.families.speech.phones import espeak_scoring

        return espeak_scoring(phonemes)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "espeak", "n_utterances": self.n_utterances, "n_speakers": self.n_speakers,
            "words": [self.min_words, self.max_words], "rate_jitter": self.rate_jitter, "split": self.split,
            "seed": self.seed, "speakers": [s.__dict__ for s in self.speakers()],
        }
