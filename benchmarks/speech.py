"""Speech family speed and quality, measured side by side in one run.

    .venv/bin/seqgen-prepare data=speech_espeak
    .venv/bin/python benchmarks/speech.py                       # ~8 minutes on 1 thread
    .venv/bin/python benchmarks/speech.py --minutes 1 --skip-peer
    .venv/bin/python benchmarks/speech.py --only vocoders --recognizer outputs/speech_recognizer
    .venv/bin/python benchmarks/speech.py --only peer --ours outputs/speech_quickstart --data data/speech_espeak_world

Prints, for the quick-start model size (2 x 128 LSTM, K = 3 window components, M = 4 mixture
components, 40 mel bins, batch 8 x 200 frames):

* training frames per second (forward + backward), and the share of the step spent in the
  step-by-step part (layer 1 + window, a Python loop over frames) versus the fused rest (upper
  nn.LSTM layers over the whole sequence, the mixture head and its loss);
* sampling frames per second at batch 1 and 8;
* corpus build time per minute of audio (from meta.json of the prepared corpus, and rebuilt now
  for a 60-utterance corpus);
* real-time factor of sampling + Griffin-Lim (seconds of compute per second of audio);
* the vocoders on their own (`--vocoders N`): the real audio of N test utterances analysed and
  resynthesised by Griffin-Lim from 40 mel bins and by WORLD, each compared with the real audio:
  MCD-DTW (both as 40-bin mel cepstra, c_0 excluded), pitch (DIO + StoneMask on both: gross
  pitch errors = frames voiced in both whose F0 is off by more than 20 %, the fine pitch error in
  cents RMS over the others, and the share of frames whose voicing differs), and with `--recognizer <phoneme recogniser run>` the PER of the resynthesis as
  that recogniser hears it (its own features computed from the audio) beside the real audio's;
* the trivial baseline (`--only baseline`): every test utterance spoken by phoneme templates, each
  phoneme its mean training frame held for its mean training duration (in the speaker-independent
  average voice), through the data's vocoder: MCD-DTW, duration ratio and, with `--recognizer`,
  the PER it is heard with; a model that does not beat this has learnt nothing beyond the averages;
* the peer: torchaudio's untrained `Tacotron2` (scaled to a comparable size) and this family's
  model, each trained on the same shards for the same CPU minutes (`--minutes`; or `--ours <run>`:
  that trained run against a Tacotron2 trained for the run's own CPU time), then MCD-DTW (c_0
  excluded, dB) on the same test utterances, generated from the same symbols.

The machine is shared with other jobs: absolute numbers move with the load; ratios measured in
the same run are the comparable part.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line  # noqa: E402

from seqgen.families.speech.datamodule import SpeechDataModule, collate_utterances  # noqa: E402
from seqgen.families.speech.features import Features  # noqa: E402
from seqgen.families.speech.generate import synthesise  # noqa: E402
from seqgen.families.speech.module import SpeechSynthesis  # noqa: E402
from seqgen.families.speech.report import mcd_dtw  # noqa: E402

QUICKSTART = dict(hidden_size=128, num_layers=2, window_components=3, mixture_components=4, input_dropout=0.1)


def build_model(info: dict, lr: float = 3e-3) -> SpeechSynthesis:
    return SpeechSynthesis(info, **QUICKSTART, optim={"optimizer": {"_target_": "torch.optim.Adam", "lr": lr}})


def train_batches(dm: SpeechDataModule, batch: int, crop: int, seed: int = 0):
    """Endless shuffled training batches from the shards (main process, no workers)."""
    items = dm.read_utterances("train", 10**9)
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(items))
        for start in range(0, len(order) - batch + 1, batch):
            out = collate_utterances([items[i] for i in order[start : start + batch]])
            yield next(dm.expand(out)) if crop else out


def loop_share(model: SpeechSynthesis, batch: dict, repeats: int) -> tuple[float, float]:
    """(seconds per full step, seconds of the step-by-step loop alone), forward + backward each."""
    net = model.net

    def full() -> None:
        model.zero_grad(set_to_none=True)
        loss, _ = model.compute_loss(batch)
        loss.backward()

    def loop_only() -> None:  # layer 1 + window exactly as in SpeechSynthesisNet.forward, nothing after
        model.zero_grad(set_to_none=True)
        x = net.inputs(batch["frames"], batch["speakers"])
        onehot = net.one_hot(batch["symbols"])
        state = net.initial_state(x.shape[0])
        w_x, w_rec, bias = net.layer1_weights()
        xproj = torch.nn.functional.linear(x, w_x, bias)
        h, c, kappa, w = state.h1, state.c1, state.kappa, state.w
        hs, ws = [], []
        for xproj_t in xproj.unbind(1):
            h, c = net._cell(torch.addmm(xproj_t, torch.cat((w, h), 1), w_rec), c)
            w, kappa, _ = net.window(h, kappa, onehot, batch["symbol_mask"])
            hs.append(h)
            ws.append(w)
        (torch.stack(hs, 1).sum() + torch.stack(ws, 1).sum()).backward()

    # interleaved, best of `repeats`: on a shared machine the minimum is the least disturbed run
    full(), loop_only()
    best_full, best_loop = float("inf"), float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        full()
        best_full = min(best_full, time.perf_counter() - start)
        start = time.perf_counter()
        loop_only()
        best_loop = min(best_loop, time.perf_counter() - start)
    return best_full, best_loop


def train_for(model: torch.nn.Module, step_fn, batches, seconds: float) -> int:
    """Train until this process has used `seconds` of CPU time (not wall time: on a shared machine
    the wall clock would hand each model whatever share of the cores the other jobs left)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    steps, end = 0, time.process_time() + seconds
    model.train()
    while time.process_time() < end:
        optimizer.zero_grad(set_to_none=True)
        loss = step_fn(next(batches))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        steps += 1
    return steps


def tacotron(n_symbols: int, n_mels: int) -> torch.nn.Module:
    from torchaudio.models import Tacotron2

    return Tacotron2(
        n_mels=n_mels, n_symbol=n_symbols, symbol_embedding_dim=128, encoder_embedding_dim=128, encoder_n_convolution=3,
        decoder_rnn_dim=256, attention_rnn_dim=256, attention_hidden_dim=64, attention_location_n_filter=16, prenet_dim=128,
        postnet_embedding_dim=128, postnet_n_convolution=3, decoder_max_step=800,
    )


def tacotron_loss(taco: torch.nn.Module, batch: dict) -> torch.Tensor:
    order = torch.argsort(batch["symbol_mask"].sum(1), descending=True)  # the encoder packs sorted sequences
    tokens, tok_len = batch["symbols"][order], batch["symbol_mask"].sum(1)[order]
    mel, lengths = batch["frames"][order].transpose(1, 2), batch["lengths"][order]
    out, post, gate, _ = taco(tokens, tok_len, mel, lengths)
    mask = (torch.arange(mel.shape[2])[None] < lengths[:, None]).unsqueeze(1)
    mse = (((out - mel) ** 2 + (post - mel) ** 2) * mask).sum() / (mask.sum() * mel.shape[1])
    gate_target = (torch.arange(mel.shape[2])[None] >= lengths[:, None] - 1).float()
    return mse + torch.nn.functional.binary_cross_entropy_with_logits(gate, gate_target)


def speed(dm: SpeechDataModule, info: dict, repeats: int) -> None:
    """Training frames per second and the share of the step-by-step loop; sampling; real-time factor."""
    model = build_model(info)
    batch = next(train_batches(dm, 8, 200))
    frames = int(batch["mask"].sum())
    full, loop = loop_share(model, batch, repeats)
    print(f"training: {frames / full:,.0f} frames/s (batch 8 x {batch['frames'].shape[1]} frames, {1000 * full:.0f} ms/step); "
          f"step-by-step part (layer 1 + window) {loop / full:.0%} of the step, fused layers + head {1 - loop / full:.0%}")
    features = Features(model.spec)
    phones = info["primes"][0]["phones"] if info["units"] == "phonemes" else list(info["primes"][0]["text"].lower())
    for rows in (1, 8):
        start = time.perf_counter()
        samples = synthesise(model, [phones] * rows, [info["speakers"][0]] * rows, bias=1.0, max_frames=200)
        seconds = time.perf_counter() - start
        n = sum(len(s.frames) for s in samples)
        print(f"sampling batch {rows}: {n / seconds:,.0f} frames/s ({1000 * seconds / max(len(samples[0].frames), 1):.1f} ms per step)")
    start = time.perf_counter()
    sample = synthesise(model, [phones], [info["speakers"][0]], bias=1.0, max_frames=200)[0]
    t_sample = time.perf_counter() - start
    start = time.perf_counter()
    audio = features.to_audio(model.denormalise(sample.frames))
    t_vocoder = time.perf_counter() - start
    audio_s = len(audio) / model.spec.sample_rate
    print(f"real-time factor (batch 1): sampling {t_sample / audio_s:.2f} + {model.spec.vocoder} "
          f"{t_vocoder / audio_s:.2f} = {(t_sample + t_vocoder) / audio_s:.2f} s of compute per s of audio")


def build_time(data: str, info: dict) -> None:
    """Corpus build time per audio minute: the prepared corpus (build.json) and a 60-utterance rebuild now."""
    from seqgen.families.speech.espeak import EspeakCorpus
    from seqgen.families.speech.prepare import BUILD_INFO, prepare_speech

    built = Path(data) / BUILD_INFO  # written beside meta.json (which holds no timing: it is reproducible)
    build = json.loads(built.read_text()) if built.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        small = prepare_speech(EspeakCorpus(n_utterances=60, n_speakers=6, text_max_bytes=300_000, split=(0.8, 0.1, 0.1)), tmp,
                               info["features"], samples_per_shard=16)
        rebuilt = time.perf_counter() - start
    print(f"corpus build: {build.get('build_seconds_per_audio_minute')} s per audio minute for the prepared corpus "
          f"({build.get('build_seconds')} s); {rebuilt / small['minutes_of_audio']:.2f} s per audio minute rebuilding "
          f"60 utterances now ({small['minutes_of_audio']:.1f} min, text extraction included)")


def pitch_errors(real: np.ndarray, other: np.ndarray, rate: int, hop: int) -> tuple[np.ndarray, float]:
    """F0 of both signals by WORLD's DIO + StoneMask: (log2 F0 ratios on frames voiced in both,
    share of frames whose voicing differs)."""
    import pyworld as pw

    period = 1000.0 * hop / rate
    f0s = []
    for x in (real, other):
        x = np.ascontiguousarray(x, dtype=np.float64)
        f0, t = pw.dio(x, rate, frame_period=period)
        f0s.append(pw.stonemask(x, f0, t, rate))
    n = min(len(f0s[0]), len(f0s[1]))
    a, b = f0s[0][:n], f0s[1][:n]
    both = (a > 0) & (b > 0)
    return np.log2(b[both] / a[both]), float(np.mean((a > 0) != (b > 0)))


def pitch_summary(ratios: np.ndarray) -> tuple[float, float]:
    """(gross pitch error: share of frames off by more than 20 %, fine pitch error: RMS cents of the others)."""
    gross = np.abs(2.0**ratios - 1.0) > 0.2
    fine = 1200.0 * ratios[~gross]
    return float(np.mean(gross)) if len(ratios) else float("nan"), float(np.sqrt(np.mean(fine**2))) if len(fine) else float("nan")


def vocoders(dm: SpeechDataModule, info: dict, n: int, recognizer_run: str | None) -> None:
    """Each vocoder on its own: real test audio -> analysis -> resynthesis, against the real audio."""
    from seqgen.families.speech.features import FeatureSpec

    utterances = [u for u in dm.read_utterances("test", n) if u.get("audio") is not None]
    if not utterances:
        print(f"vocoders: the test shards of {dm.data_dir} hold no audio: prepare the data again with this version")
        return
    base = {k: v for k, v in info["features"].items() if k in ("sample_rate", "n_fft", "win_length", "hop_length")}
    mel = Features(FeatureSpec(kind="mel", n_mels=40, **base))
    candidates = {"Griffin-Lim (32 iterations) from 40 log-mel bins": mel, "WORLD (F0, voicing, 40 mel-cepstra, aperiodicity)":
                  Features(FeatureSpec(kind="world", n_mcep=40, **base))}
    recognizer, hearing = None, None
    if recognizer_run:
        from seqgen.core.checkpoints import load_model

        recognizer = load_model(recognizer_run, family="recognizer")
        hearing = Features(FeatureSpec.from_dict(recognizer.features))
    refs = [" ".join(u["phones"]) for u in utterances]
    seconds = sum(len(u["audio"]) for u in utterances) / mel.spec.sample_rate
    real_ceps = [mel.mel_cepstrum(mel(u["audio"])) for u in utterances]
    print(f"vocoders on the real audio of {len(utterances)} test utterances ({seconds:.0f} s), each analysed and resynthesised:")
    print("| vocoder | MCD-DTW vs real audio (dB) | gross pitch errors | fine pitch error (cents RMS) | voicing disagreement | PER heard | CPU s per audio s |")
    print("|---|---|---|---|---|---|---|")
    if recognizer is not None:
        heard = recognizer.read([hearing(u["audio"]) for u in utterances])
        print(f"| none (the real audio) | 0 | 0% | 0 | 0% | {100 * recognizer.error_rate(heard, refs):.1f}% | |")
    for name, features in candidates.items():
        start = time.process_time()
        audio = [features.to_audio(features(u["audio"])) for u in utterances]
        cpu = time.process_time() - start
        mcd = statistics.mean(mcd_dtw(mel.mel_cepstrum(mel(a)), r) for a, r in zip(audio, real_ceps))
        pitch = [pitch_errors(u["audio"], a, mel.spec.sample_rate, mel.spec.hop_length) for u, a in zip(utterances, audio)]
        gross, fine = pitch_summary(np.concatenate([r for r, _ in pitch]))
        per = f"{100 * recognizer.error_rate(recognizer.read([hearing(a) for a in audio]), refs):.1f}%" if recognizer else "-"
        print(f"| {name} | {mcd:.2f} | {100 * gross:.1f}% | {fine:.0f} | {100 * statistics.mean(v for _, v in pitch):.1f}% | {per} | {cpu / seconds:.3f} |")
    if recognizer is not None:
        print(f"PER: the recogniser {recognizer_run} ({recognizer.features['kind']} features computed from each audio), "
              f"best path, scored as {recognizer.scoring_name}")


def peer(dm: SpeechDataModule, info: dict, minutes: float, n_eval: int, ours_run: str | None) -> None:
    """Tacotron2 vs this family's model, the same shards, the same CPU time; MCD-DTW on the same test utterances."""
    seconds = 60.0 * minutes
    if ours_run:
        from seqgen.core.checkpoints import load_model

        ours = load_model(ours_run)
        result = json.loads((Path(ours_run) / "metrics.json").read_text())
        seconds, steps_ours = float(result["fit_cpu_seconds"]), int(result["global_step"])
        print(f"this family: the trained run {ours_run} ({steps_ours} steps, {seconds / 60:.1f} CPU min of training and validation)")
    else:
        ours = build_model(info)
        steps_ours = train_for(ours, lambda b: ours.compute_loss(b)[0], train_batches(dm, 8, 200, seed=1), seconds)
    taco = tacotron(len(info["vocab"][info["units"]]) + 1, len(info["norm"]["mean"]))
    steps_taco = train_for(taco, lambda b: tacotron_loss(taco, b), train_batches(dm, 8, 200, seed=1), seconds)
    features = Features(ours.spec)
    utterances = dm.read_utterances("test", n_eval)
    ceps_real = [features.mel_cepstrum(ours.denormalise(u["frames"].numpy())) for u in utterances]
    symbols = [[dm.table.symbols[int(i) - 1] for i in u["symbols"]] for u in utterances]
    gen_ours = synthesise(ours, symbols, [u["speaker_name"] for u in utterances], bias=1.0, max_frames=800)
    taco.eval()
    gen_taco, stopped = [], 0
    with torch.no_grad():
        for u in utterances:
            mel, lengths, _ = taco.infer(u["symbols"][None], torch.tensor([len(u["symbols"])]))
            gen_taco.append(mel[0, :, : int(lengths[0])].T.numpy())
            stopped += int(lengths[0]) < 800
    if ours.spec.voicing_index is not None:  # Tacotron2 regresses the 0/1 voicing flag: round it, as WORLD reads it
        for frames in gen_taco:
            frames[:, ours.spec.voicing_index] = frames[:, ours.spec.voicing_index] > 0.5
    rows = []
    for name, net, gens, steps in (("this family (window + diagonal MDN)", ours, [s.frames for s in gen_ours], steps_ours),
                                   ("torchaudio Tacotron2 (scaled down)", taco, gen_taco, steps_taco)):
        mcd = [mcd_dtw(features.mel_cepstrum(ours.denormalise(g)), r) for g, r in zip(gens, ceps_real) if len(g)]
        ratio = statistics.mean(len(g) / len(u["frames"]) for g, u in zip(gens, utterances))
        params = sum(p.numel() for p in net.parameters())
        rows.append((name, params, steps, statistics.mean(mcd), ratio))
    print(f"peer, {seconds / 60:.1f} CPU minutes each on the same shards ({ours.spec.kind} features), MCD-DTW on "
          f"{len(utterances)} test utterances (dB, lower is better):")
    print("| model | parameters | training steps | MCD-DTW (dB) | duration ratio gen/real |")
    print("|---|---|---|---|---|")
    for name, params, steps, mcd, ratio in rows:
        print(f"| {name} | {params:,} | {steps} | {mcd:.2f} | {ratio:.2f} |")
    finished = sum(s.finished for s in gen_ours)
    print(f"ended by the window rule: this family {finished}/{len(utterances)}; Tacotron2's gate {stopped}/{len(utterances)} (else the step cap)")


def phoneme_templates(dm: SpeechDataModule) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Mean raw frame and mean duration (frames) of every phoneme over the training utterances."""
    sums: dict[str, np.ndarray] = {}
    frames: dict[str, int] = {}
    counts: dict[str, int] = {}
    mean, std = (np.asarray(dm.info["norm"][k], np.float32) for k in ("mean", "std"))
    for u in dm.read_utterances("train", 10**9):
        raw = u["frames"].numpy() * std + mean
        edges = list(u["bounds"]) + [len(raw)]
        for phone, start, end in zip(u["phones"], edges[:-1], edges[1:]):
            if end <= start:
                continue
            sums[phone] = sums.get(phone, 0.0) + raw[start:end].sum(0)
            frames[phone] = frames.get(phone, 0) + (end - start)
            counts[phone] = counts.get(phone, 0) + 1
    return {p: sums[p] / frames[p] for p in sums}, {p: max(1, round(frames[p] / counts[p])) for p in sums}


def baseline(dm: SpeechDataModule, info: dict, n: int, recognizer_run: str | None) -> None:
    """Phoneme templates (mean frame for the mean duration) for the test utterances, against the real ones."""
    from seqgen.families.speech.features import FeatureSpec
    from seqgen.families.speech.intelligibility import through_vocoder

    means, durations = phoneme_templates(dm)
    spec = FeatureSpec.from_dict(info["features"])
    features = Features(spec)
    utterances = dm.read_utterances("test", n)
    mean, std = (np.asarray(info["norm"][k], np.float32) for k in ("mean", "std"))
    real = [u["frames"].numpy() * std + mean for u in utterances]
    spoken = [np.concatenate([np.repeat(means[p][None], durations[p], 0) for p in u["phones"]]).astype(np.float32) for u in utterances]
    if spec.voicing_index is not None:
        for frames in spoken:
            frames[:, spec.voicing_index] = frames[:, spec.voicing_index] > 0.5
    mcd = statistics.mean(mcd_dtw(features.mel_cepstrum(g), features.mel_cepstrum(r)) for g, r in zip(spoken, real))
    ratio = statistics.mean(len(g) / len(r) for g, r in zip(spoken, real))
    per = "-"
    if recognizer_run:
        from seqgen.core.checkpoints import load_model

        recognizer = load_model(recognizer_run, family="recognizer")
        refs = [" ".join(u["phones"]) for u in utterances]
        per = f"{100 * recognizer.error_rate(recognizer.read(through_vocoder(features, spoken)[1]), refs):.1f}%"
    print(f"trivial baseline, phoneme templates ({len(means)} phonemes: mean training frame for the mean training duration), "
          f"{len(utterances)} test utterances, {spec.kind} features through {spec.vocoder}:")
    print("| speech | MCD-DTW (dB) | duration ratio gen/real | PER heard |")
    print("|---|---|---|---|")
    print(f"| phoneme templates | {mcd:.2f} | {ratio:.2f} | {per} |")


SECTIONS = ("speed", "build", "vocoders", "baseline", "peer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/speech_espeak")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=3.0, help="CPU minutes of training for each model of the peer comparison")
    parser.add_argument("--eval-utterances", type=int, default=8)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--vocoders", type=int, default=16, help="test utterances the vocoders resynthesise (0: skip)")
    parser.add_argument("--baseline-utterances", type=int, default=64, help="test utterances of the trivial baseline")
    parser.add_argument("--recognizer", help="a phoneme recogniser run: PER of each vocoder's resynthesis and of the baseline")
    parser.add_argument("--ours", help="a trained speech run: the peer trains for this run's CPU time and meets it")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sections = set(args.only or SECTIONS) - ({"peer"} if args.skip_peer else set()) - (set() if args.vocoders else {"vocoders"})
    dm = SpeechDataModule(args.data, max_frames=200)
    info = dm.load_info()
    print(f"# speech benchmark ({machine_line()}; shared machine: other jobs were running)")
    print(f"corpus: {info['corpus']}, {len(info['speakers'])} speakers, {info['minutes_of_audio']} min of audio, features {info['features']['kind']} x {len(info['norm']['mean'])}")
    if "speed" in sections:
        speed(dm, info, args.repeats)
    if "build" in sections:
        build_time(args.data, info)
    if "vocoders" in sections:
        vocoders(dm, info, args.vocoders, args.recognizer)
    if "baseline" in sections:
        baseline(dm, info, args.baseline_utterances, args.recognizer)
    if "peer" in sections:
        peer(dm, info, args.minutes, args.eval_utterances, args.ours)


if __name__ == "__main__":
    main()
