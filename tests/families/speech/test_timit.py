"""TIMIT reader: SPHERE headers and PCM, .PHN/.WRD/.TXT, 61 -> 48 -> 39 folding, splits, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from speech_helpers import tone_utterance, write_timit_tree, write_timit_utterance

from seqgen.errors import SeqgenError
from seqgen.families.speech.phones import (
    CORE_TEST_SPEAKERS, DEV_SPEAKERS, PHONES_39, PHONES_48, PHONES_61, fold_phone, fold_segments,
)
from seqgen.families.speech.timit import (
    SkipCounter, TimitCorpus, parse_sphere_header, read_segments, read_sphere, read_text, read_utterance, write_sphere,
)


def test_phone_sets_and_folding() -> None:
    assert (len(PHONES_61), len(PHONES_48), len(PHONES_39)) == (61, 48, 39)
    assert len(CORE_TEST_SPEAKERS) == len(set(CORE_TEST_SPEAKERS)) == 24
    assert len(DEV_SPEAKERS) == len(set(DEV_SPEAKERS)) == 50 and not set(DEV_SPEAKERS) & set(CORE_TEST_SPEAKERS)
    cases = {"h#": ("sil", "sil"), "pau": ("sil", "sil"), "epi": ("epi", "sil"), "bcl": ("vcl", "sil"), "kcl": ("cl", "sil"),
             "ax-h": ("ax", "ah"), "axr": ("er", "er"), "hv": ("hh", "hh"), "ux": ("uw", "uw"), "ao": ("ao", "aa"),
             "ix": ("ix", "ih"), "el": ("el", "l"), "en": ("en", "n"), "zh": ("zh", "sh"), "nx": ("n", "n"), "eng": ("ng", "ng")}
    for phone, (p48, p39) in cases.items():
        assert fold_phone(phone, 48) == p48 and fold_phone(phone, 39) == p39, phone
    assert fold_phone("q", 48) is None and fold_phone("q", 61) == "q"
    with pytest.raises(SeqgenError, match="unknown TIMIT phone"):
        fold_phone("xx", 48)
    # q is dropped and its samples join the previous phone
    segs = [(0, 10, "h#"), (10, 20, "q"), (20, 30, "iy"), (30, 40, "h#")]
    assert fold_segments(segs, 48) == [(0, 20, "sil"), (20, 30, "iy"), (30, 40, "sil")]
    assert fold_segments([(0, 5, "q"), (5, 9, "iy")], 39) == [(0, 9, "iy")]


def test_sphere_header_and_pcm_match_soundfile(tmp_path: Path) -> None:
    audio, _ = tone_utterance(5, 0)
    for order in ("01", "10"):
        path = write_sphere(tmp_path / f"a{order}.WAV", audio, 16000, byte_format=order)
        raw = path.read_bytes()
        assert raw.startswith(b"NIST_1A\n   1024\n") and len(raw) == 1024 + 2 * len(audio)
        fields, size = parse_sphere_header(raw)
        assert size == 1024 and fields["sample_rate"] == 16000 and fields["sample_count"] == len(audio)
        assert fields["sample_byte_format"] == order and fields["channel_count"] == 1
        samples, rate = read_sphere(path, 16000)
        assert rate == 16000 and np.array_equal(np.round(samples * 32768).astype(np.int16), audio)
        ref, ref_rate = sf.read(str(path), dtype="int16")  # libsndfile reads NIST SPHERE too
        assert ref_rate == 16000 and np.array_equal(ref, audio)


def test_sphere_bad_input(tmp_path: Path) -> None:
    audio, _ = tone_utterance(3, 1)
    shorten = write_sphere(tmp_path / "s.WAV", audio, extra={"sample_coding": "pcm,embedded-shorten-v2.00"})
    with pytest.raises(SeqgenError, match="shorten.*decompress"):
        read_sphere(shorten)
    eight_k = write_sphere(tmp_path / "r.WAV", audio, 8000)
    with pytest.raises(SeqgenError, match="8000 Hz.*16000"):
        read_sphere(eight_k, 16000)
    riff = tmp_path / "riff.wav"
    sf.write(str(riff), audio, 16000)
    with pytest.raises(SeqgenError, match="not a NIST SPHERE"):
        read_sphere(riff)
    truncated = tmp_path / "t.WAV"
    truncated.write_bytes(write_sphere(tmp_path / "full.WAV", audio).read_bytes()[:2000])
    with pytest.raises(SeqgenError, match="truncated"):
        read_sphere(truncated)
    stereo = write_sphere(tmp_path / "st.WAV", audio, extra={"channel_count": 2})
    with pytest.raises(SeqgenError, match="mono"):
        read_sphere(stereo)


def test_label_files_and_utterance(tmp_path: Path) -> None:
    wav = write_timit_utterance(tmp_path / "FCJF0", "SI1", 3)
    phn = read_segments(wav.with_suffix(".PHN"))
    assert phn[0] == (0, 800, "h#") and phn[5] == (4000, 4800, "q") and len(phn) == 12
    assert read_segments(wav.with_suffix(".WRD")) == [(800, 4000, "hello"), (4800, 8800, "world")]
    assert read_text(wav.with_suffix(".TXT")) == "Hello world."
    utt = read_utterance(wav, "FCJF0", phone_set=48)
    assert utt.uid == "FCJF0_SI1" and utt.rate == 16000 and len(utt.audio) == 9600
    assert [p for *_, p in utt.phones] == ["sil", "hh", "eh", "l", "ow", "w", "er", "l", "vcl", "d", "sil"]  # q dropped
    assert utt.phones[4] == (3200, 4800, "ow")  # ... its samples joined 'ow'
    assert [p for *_, p in read_utterance(wav, "FCJF0", phone_set=61).phones][5] == "q"


def test_phn_must_cover_the_audio(tmp_path: Path) -> None:
    wav = write_timit_utterance(tmp_path / "X", "SI1", 4)
    phn = wav.with_suffix(".PHN")
    lines = phn.read_text().splitlines()
    phn.write_text("\n".join(lines[:-1]) + "\n")  # last phone missing: 800 samples uncovered
    with pytest.raises(SeqgenError, match="phones end at sample 8800 but the audio has 9600"):
        read_utterance(wav, "X")
    phn.write_text("\n".join([lines[0], lines[2]] + lines[3:]) + "\n")  # a gap
    with pytest.raises(SeqgenError, match="gap or overlap"):
        read_utterance(wav, "X")
    phn.write_text("\n".join(lines[:-1] + ["8800 9600 zz"]) + "\n")
    with pytest.raises(SeqgenError, match="unknown TIMIT phone"):
        read_utterance(wav, "X")
    phn.write_text("0 10\n")
    with pytest.raises(SeqgenError, match="begin end label"):
        read_utterance(wav, "X")
    wav.with_suffix(".TXT").write_text("0 9600 \n")
    with pytest.raises(SeqgenError, match="empty transcription"):
        read_text(wav.with_suffix(".TXT"))


def test_corpus_splits_and_skips(tmp_path: Path) -> None:
    root = write_timit_tree(tmp_path / "timit")
    # a compressed file in training: a counted, named skip
    write_timit_utterance(root / "TRAIN/DR2/FAEM0", "SX2", 99, extra={"sample_coding": "pcm,embedded-shorten-v2.00"})
    corpus = TimitCorpus(str(root))
    report = SkipCounter()
    train = list(corpus.iter_split("train", report))
    assert sorted({u.speaker for u in train}) == ["FAEM0", "FCJF0", "MDPK0"]
    assert len(train) == 6 and not any(u.uid.endswith("SA1") for u in train)  # SA off by default
    assert report.counts == {"compressed_audio": 1} and report.names["compressed_audio"] == ["FAEM0/SX2.WAV"]
    assert [u.speaker for u in corpus.iter_split("valid", report)] == ["FAKS0", "FAKS0"]  # dev set
    assert {u.speaker for u in corpus.iter_split("test", report)} == {"MDAB0"}  # core test set only
    with_sa = TimitCorpus(str(root), include_sa=True)
    assert len(list(with_sa.iter_split("train", SkipCounter()))) == 9  # + SA1, SX2 still skipped
    assert len(list(with_sa.iter_split("test", SkipCounter()))) == 2  # never SA in the core test
    with pytest.raises(SeqgenError, match="TRAIN"):
        list(TimitCorpus(str(tmp_path / "nowhere")).iter_split("train", report))
    lower = tmp_path / "lower"
    write_timit_utterance(lower / "train" / "dr1" / "fcjf0", "si1", 5)
    assert [u.uid for u in TimitCorpus(str(lower)).iter_split("train", SkipCounter())] == ["FCJF0_SI1"]


def test_prepare_timit_shards(tmp_path: Path) -> None:
    from seqgen.data.shards import read_meta
    from seqgen.families.speech.datamodule import SpeechDataModule, collate_utterances
    from seqgen.families.speech.prepare import prepare_speech

    root = write_timit_tree(tmp_path / "timit")
    summary = prepare_speech(TimitCorpus(str(root)), str(tmp_path / "shards"), {"kind": "mel", "n_mels": 20}, samples_per_shard=2)
    meta = read_meta(tmp_path / "shards")
    assert meta["family"] == "speech" and meta["speakers"] == ["FAEM0", "FCJF0", "MDPK0"]
    assert summary["splits"]["train"]["utterances"] == 6 and summary["splits"]["test"]["utterances"] == 2
    assert set(meta["vocab"]["phonemes"]) == {"sil", "hh", "eh", "l", "ow", "w", "er", "vcl", "d"}
    assert len(meta["norm"]["mean"]) == 20 and meta["minutes_of_audio"] > 0 and meta["primes"]
    dm = SpeechDataModule(str(tmp_path / "shards"))
    dm.load_info()
    items = dm.read_utterances("test", 2)
    batch = collate_utterances(items)
    assert batch["frames"].shape == (2, 9600 // 200 + 1, 20)
    assert batch["speakers"].tolist() == [0, 0]  # core test speakers are never training speakers
    assert batch["symbols"].shape[1] == 11 and list(batch["bounds"][0][:3]) == [0, 4, 8]  # 800 samples = 4 frames
    # valid/test keep their audio (listening, vocoder and intelligibility measures); train does not
    assert items[0]["audio"].shape == (9600,) and np.abs(items[0]["audio"]).max() > 0.1
    assert dm.read_utterances("train", 1)[0]["audio"] is None
    # the phoneme recogniser scores TIMIT on 39 phones: closures and silences fold together
    fold = meta["scoring"]["fold"]
    assert "39" in meta["scoring"]["name"] and fold["vcl"] == fold["cl"] == fold["sil"] == "sil" and fold["ix"] == "ih"


def test_scoring_maps() -> None:
    from seqgen.families.speech.phones import espeak_base_phoneme, timit_scoring

    assert timit_scoring(61)["fold"]["q"] == "" and timit_scoring(61)["fold"]["pcl"] == "sil" and timit_scoring(39)["fold"] == {}
    assert len(set(timit_scoring(48)["fold"].values())) == 39
    assert [espeak_base_phoneme(p) for p in ("@2", "@-", "t#", "t[", "aI3", "i@3", "3", "3:", "@L", "oU")] == \
        ["@", "@", "t", "t", "aI", "i@", "3", "3:", "@L", "oU"]


def test_prepare_characters_and_skips(tmp_path: Path) -> None:
    from seqgen.families.speech.datamodule import SpeechDataModule
    from seqgen.families.speech.prepare import prepare_speech

    root = write_timit_tree(tmp_path / "timit")
    prepare_speech(TimitCorpus(str(root)), str(tmp_path / "shards"), {"kind": "linear", "n_fft": 256, "win_length": 256, "hop_length": 128},
                   samples_per_shard=4)
    dm = SpeechDataModule(str(tmp_path / "shards"), units="chars")
    info = dm.load_info()
    assert info["vocab"]["chars"] == sorted(set("hello world."))
    item = dm.read_utterances("valid", 1)[0]
    assert "".join(dm.table.symbols[i - 1] for i in item["symbols"].tolist()) == "hello world."
    assert item["frames"].shape[1] == 129
    with pytest.raises(SeqgenError, match="unknown chars 'Z'"):
        dm.table.encode(list("Zoo"))
    with pytest.raises(SeqgenError, match="units"):
        SpeechDataModule(str(tmp_path / "shards"), units="words")
    # every utterance over max_frames: counted, named skips, then a clear error for the empty split
    with pytest.raises(SeqgenError, match="'train' split .* empty after skips .*too_long"):
        prepare_speech(TimitCorpus(str(root)), str(tmp_path / "short"), {}, max_frames=10)


def test_character_model_trains_and_samples(tmp_path: Path) -> None:
    """units=chars end to end on TIMIT-format data: a finite loss, gradients, a sample that ends or stops at the cap."""
    import math

    from seqgen.families.speech.datamodule import SpeechDataModule, collate_utterances
    from seqgen.families.speech.generate import synthesise
    from seqgen.families.speech.module import SpeechSynthesis
    from seqgen.families.speech.prepare import prepare_speech

    prepare_speech(TimitCorpus(str(write_timit_tree(tmp_path / "timit"))), str(tmp_path / "shards"), {"n_mels": 16})
    dm = SpeechDataModule(str(tmp_path / "shards"), units="chars")
    model = SpeechSynthesis(dm.load_info(), hidden_size=16, window="exp", max_sample_frames=25)
    loss, logs = model.compute_loss(collate_utterances(dm.read_utterances("train", 2)))
    loss.backward()
    assert math.isfinite(float(loss)) and model.net.window.linear.weight.grad is not None
    sample = synthesise(model, [list("hello")], ["FCJF0"], bias=0.5)[0]
    assert 1 <= len(sample.frames) <= 25 and sample.phi.shape == (len(sample.frames), 5)
