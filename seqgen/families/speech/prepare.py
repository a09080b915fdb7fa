"""Speech corpus -> WebDataset shards + manifest.json + meta.json, streamed (flat memory).

One shard sample per utterance::

    frames.npy   (T, D) float32   features (seqgen.families.speech.features), NOT normalised
    bounds.npy   (P,) int32       first frame of each phone (from the corpus's exact boundaries)
    phones.txt   space-separated phone labels (P of them)
    text.txt     the sentence;  speaker.txt  the speaker's name
    audio.npy    (N,) int16       valid/test only: the audio the frames were computed from (at the
                                  features' sample rate), for listening and for measuring vocoders
                                  and generated speech against the real thing

Utterances are read, featurised and written one at a time; the normalisation statistics, the
symbol vocabularies (phonemes and characters) and the speaker list come from the training split,
written first, with running sums, so memory stays flat for any corpus size. The corpus adds how
the phoneme recogniser scores it (meta.json "scoring": TIMIT -> 39 phones, espeak-ng allophones
-> their base phoneme). Valid/test utterances
with a symbol the training split lacks, empty texts, utterances longer than `max_frames`, audio
the corpus reader rejects: counted, named skips in meta.json (and logged), never silent.

Deterministic: the same corpus and settings give byte-identical shards, manifest.json and
meta.json, run after run, on any core count, and a killed prepare run again writes the same files
(finished shards are recognised by hash). Hence what varies between runs (build time, shards a
re-run found finished) goes to ``build.json`` beside them, not to meta.json; features are computed
on one torch thread (the mel product's float32 sums depend on the thread count); the espeak corpus
synthesises each utterance in isolation with its own seed (espeak.py).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from seqgen.core.config import build
from seqgen.core.prepare import Preparation, SplitPlan, WrittenSplit, prepare_shards
from seqgen.data.shards import encode_array
from seqgen.data.spill import release_free_memory
from seqgen.errors import SeqgenError
from seqgen.families.speech.config import SpeechPrepareConfig
from seqgen.families.speech.features import Features, NormAccumulator, one_thread, resample
from seqgen.families.speech.timit import SkipCounter, Utterance
from seqgen.io import write_json

log = logging.getLogger(__name__)

BUILD_INFO = "build.json"  # what varies between runs, outside meta.json (see the module doc)
TRIM_EVERY = 8  # utterances between two `release_free_memory` calls (each costs a few ms)


def text_symbols(text: str) -> list[str]:
    """Character conditioning: the lower-cased sentence, whitespace runs as one space."""
    return list(" ".join(text.lower().split()))


def utterance_sample(utt: Utterance, frames: np.ndarray, hop: int, rate_ratio: float, audio: np.ndarray | None = None) -> dict[str, bytes]:
    starts = np.array([round(b * rate_ratio / hop) for b, _, _ in utt.phones], dtype=np.int32).clip(0, len(frames) - 1)
    extra = {} if audio is None else {"audio.npy": encode_array(np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16))}
    return {
        "__key__": utt.uid,
        "frames.npy": encode_array(frames.astype(np.float32)),
        "bounds.npy": encode_array(starts),
        "phones.txt": " ".join(p for _, _, p in utt.phones).encode("utf-8"),
        "text.txt": utt.text.encode("utf-8"),
        "speaker.txt": utt.speaker.encode("utf-8"),
        **extra,
    }


class _SplitWriter:
    """Featurises and filters one split's utterances while ShardWriter consumes them."""

    def __init__(self, features: Features, report: SkipCounter, max_frames: int | None) -> None:
        self.features = features
        self.report = report
        self.max_frames = max_frames
        self.norm = NormAccumulator(features.spec.dim)
        self.phones: set[str] = set()
        self.chars: set[str] = set()
        self.speakers: dict[str, int] = {}
        self.stats = {"utterances": 0, "frames": 0, "seconds": 0.0, "max_frames": 0}
        self.primes: list[dict[str, Any]] = []

    def samples(self, split: str, utterances: Iterator[Utterance], vocab: dict[str, set[str]] | None, n_primes: int) -> Iterator[dict[str, bytes]]:
        spec = self.features.spec
        for count, utt in enumerate(utterances, 1):
            if count % TRIM_EVERY == 0:
                release_free_memory()  # resampling leaves the heap fragmented: memory would grow with the corpus
            if not utt.text.strip() or not utt.phones:
                self.report.add("empty_text", utt.uid)
                continue
            audio = resample(utt.audio, utt.rate, spec.sample_rate)
            frames = self.features(audio)
            if self.max_frames is not None and len(frames) > self.max_frames:
                self.report.add("too_long", utt.uid, f"{len(frames)} frames > max_frames={self.max_frames}")
                continue
            phones = [p for _, _, p in utt.phones]
            chars = text_symbols(utt.text)
            if vocab is not None:
                unknown = sorted((set(phones) - vocab["phonemes"]) | (set(chars) - vocab["chars"]))
                if unknown:
                    self.report.add("unknown_symbols", utt.uid, "not in the training split: " + " ".join(unknown))
                    continue
            else:
                self.norm.add(frames)
                self.phones.update(phones)
                self.chars.update(chars)
            self.speakers[utt.speaker] = self.speakers.get(utt.speaker, 0) + 1
            self.stats["utterances"] += 1
            self.stats["frames"] += len(frames)
            self.stats["seconds"] += len(audio) / spec.sample_rate
            self.stats["max_frames"] = max(self.stats["max_frames"], len(frames))
            if split == "valid" and len(self.primes) < n_primes and all(p["speaker"] != utt.speaker for p in self.primes):
                self.primes.append({"uid": utt.uid, "speaker": utt.speaker, "text": utt.text, "phones": phones, "frames": frames})
            yield utterance_sample(utt, frames, spec.hop_length, spec.sample_rate / utt.rate, None if split == "train" else audio)


class SpeechPreparation(Preparation):
    """Train first: its vocabularies, normalisation statistics and speakers decide what valid and
    test keep; what varies between runs (build time, reused shards) goes to build.json."""

    family = "speech"

    def __init__(self, corpus: Any, out_dir: str, config: SpeechPrepareConfig) -> None:
        self.started = time.perf_counter()
        self.out = Path(out_dir)
        self.corpus, self.config, self.spec = corpus, config, config.features
        self.features = Features(config.features)
        self.report = SkipCounter()
        self.vocab: dict[str, set[str]] | None = None
        self.norm: dict[str, Any] = {}
        self.train_speakers: list[str] = []
        self.primes: list[dict[str, Any]] = []
        self.state: _SplitWriter | None = None
        self.elapsed = 0.0

    def plan(self, split: str) -> SplitPlan:
        self.state = _SplitWriter(self.features, self.report, self.config.max_frames)
        utterances = self.corpus.iter_split(split, self.report, self.spec.sample_rate)
        return SplitPlan(self.state.samples(split, utterances, self.vocab, self.config.n_primes), self.config.samples_per_shard)

    def split_stats(self, split: str, written: WrittenSplit) -> dict[str, Any]:
        state = self.state
        assert state is not None
        if state.stats["utterances"] == 0:
            raise SeqgenError(f"the '{split}' split of corpus '{self.corpus.name}' is empty after skips ({self.report.counts}): check data.corpus")
        if split == "train":
            self.vocab = {"phonemes": state.phones, "chars": state.chars}
            self.norm = state.norm.result(binary=[self.spec.voicing_index] if self.spec.voicing_index is not None else [])
            self.train_speakers = sorted(state.speakers)
        self.primes.extend(state.primes)
        return {
            "utterances": state.stats["utterances"],
            "frames": state.stats["frames"],
            "minutes": round(state.stats["seconds"] / 60.0, 2),
            "max_frames": state.stats["max_frames"],
            "speakers": len(state.speakers),
        }

    def meta(self, splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
        assert self.vocab is not None
        mean, std = np.asarray(self.norm["mean"]), np.asarray(self.norm["std"])
        self.elapsed = time.perf_counter() - self.started
        return {
            "corpus": self.corpus.name,
            "corpus_settings": self.corpus.describe(),
            "features": self.spec.to_dict(),
            "norm": self.norm,
            "vocab": {"phonemes": sorted(self.vocab["phonemes"]), "chars": sorted(self.vocab["chars"])},
            "scoring": self.corpus.scoring(sorted(self.vocab["phonemes"])),
            "speakers": self.train_speakers,
            "splits": {name: {k: v for k, v in stats.items() if k != "reused_shards"} for name, stats in splits.items()},
            "train_utterances": splits["train"]["utterances"],
            "minutes_of_audio": round(sum(s["minutes"] for s in splits.values()), 2),
            "skipped": self.report.to_dict(),
            "primes": [
                {**p, "frames": np.round((p["frames"] - mean) / std, 3).astype(float).tolist()} for p in self.primes
            ],
        }

    def summary(self, meta: dict[str, Any], splits: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """build.json (time, shards a re-run found finished) and the printed report."""
        minutes = sum(s["minutes"] for s in splits.values())
        build = {"build_seconds": round(self.elapsed, 1), "build_seconds_per_audio_minute": round(self.elapsed / max(minutes, 1e-9), 2),
                 "reused_shards": {split: stats["reused_shards"] for split, stats in splits.items()}}
        write_json(self.out / BUILD_INFO, build)
        speakers = len(set(self.train_speakers))
        print(
            f"[seqgen] speech corpus '{self.corpus.name}': {speakers} training speakers, "
            f"{sum(s['utterances'] for s in splits.values())} utterances, {minutes:.1f} minutes of audio, "
            f"built in {self.elapsed:.1f} s ({build['build_seconds_per_audio_minute']} s per audio minute); skipped: {self.report.counts or 'none'}",
            flush=True,
        )
        return {"minutes_of_audio": meta["minutes_of_audio"], "build_seconds": build["build_seconds"], "speakers": speakers,
                "skipped": dict(self.report.counts), "feature_dim": self.spec.dim}


def prepare_speech(corpus: Any, out_dir: str, features: Any = None, **options: Any) -> dict[str, Any]:
    """Write train/valid/test shards and meta.json for a speech corpus; returns the summary.
    `features` (`data.features`) and `options`: the rest of `data.prepare` (`SpeechPrepareConfig`)."""
    config = build(SpeechPrepareConfig, {**options, "features": features or {}, "out_dir": str(out_dir)}, "data.prepare")
    preparation = SpeechPreparation(corpus, out_dir, config)
    with one_thread():  # frames independent of the machine's core count (features.one_thread)
        return prepare_shards(out_dir, preparation)
