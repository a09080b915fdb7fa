"""The libespeak-ng helper process: every utterance synthesised in a fresh fork of a pristine engine.

Run by `seqgen.families.speech.espeak.Espeak` as ``python -I -S espeak_worker.py LIBRARY DATA_DIR``
(standard library only, so it starts in milliseconds and forks cheaply). Why a process and a fork
per utterance: libespeak-ng's output depends on more than its input.

* Its noise generator (the breath noise of voices such as ``+f3``/``+f5``: ``espeak_rand`` in
  espeak-ng 1.52, libc ``rand()`` before) is seeded from the clock by ``espeak_Initialize``
  (``espeak_srand(time(NULL))``), and speechPlayer voices draw libc ``rand()``: the same
  utterance differed between two runs.
* Static synthesiser state carries over from one utterance to the next (the pitch-flutter phase
  ``Flutter_ix``, the automatic gain ``agc``, resonator memories, the Klatt flutter clock): an
  utterance's samples depended on every utterance spoken before it in the process (seeded, in
  reverse order, 184 of 200 utterances differed), and no API resets them.

So the engine is initialised once, here (English loaded, see ``PRELOADED_VOICE``), and never
speaks in this process: for each request a child is forked (copy-on-write: a pristine engine),
seeds both generators with the request's seed (``espeak_ng_SetRandSeed`` where the library has
it, libc ``srand``), synthesises, sends the result through a pipe and exits. An utterance's audio
is then a function of (text, voice, rate, pitch, range, seed) alone; a crash inside the library
kills one child and comes back as an error for that utterance (its cost per utterance: docs/speech.md).
Without ``os.fork`` (Windows) the engine speaks in this process:
seeded, but not isolated from the utterances before it.

Protocol (stdin/stdout, one request at a time): the worker first writes one JSON line,
``{"sample_rate": N}`` or ``{"error": "..."}``; then per request line
``{"text", "voice", "rate", "pitch", "range", "seed"}`` it answers one JSON line
``{"samples": n, "events": [[sample, phoneme], ...]}`` followed by n little-endian int16
samples, or ``{"error": "..."}``.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

# espeak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_RATE, _PITCH, _RANGE = 1, 3, 4
_POS_CHARACTER, _CHARS_UTF8 = 1, 1
PRELOADED_VOICE = "en"


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),  # sample index in the synthesised audio
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # union: the phoneme mnemonic for PHONEME events
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class Engine:
    def __init__(self, library: str, data: str) -> None:
        self.lib = ctypes.CDLL(library)
        self.libc = ctypes.CDLL(None)
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                          ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.set_seed = getattr(self.lib, "espeak_ng_SetRandSeed", None)  # espeak-ng >= 1.52
        if self.set_seed is not None:
            self.set_seed.argtypes = [ctypes.c_long]
        self.libc.srand.argtypes = [ctypes.c_uint]
        rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode() or None, _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT)
        if rate <= 0:
            raise RuntimeError(f"libespeak-ng failed to initialise (code {rate}): its data folder is missing")
        self.sample_rate = int(rate)
        # Part of the pristine state every child starts from: English's dictionary and tables already
        # loaded, so a child switching to an English voice need not load them. Fixed, so
        # every child of every worker starts from the same state; a failure leaves no voice loaded.
        self.lib.espeak_SetVoiceByName(PRELOADED_VOICE.encode())
        self.chunks: list[bytes] = []
        self.events: list[list] = []
        self.callback = _CALLBACK(self._on_synth)  # kept referenced: the library calls it later
        self.lib.espeak_SetSynthCallback(self.callback)

    def _on_synth(self, wav, n, events) -> int:  # type: ignore[no-untyped-def]
        if n > 0:
            self.chunks.append(ctypes.string_at(wav, 2 * n))
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_PHONEME:
                self.events.append([int(events[i].sample), events[i].id.decode("ascii", "replace")])
            i += 1
        return 0

    def synth(self, req: dict) -> bytes:
        """One request -> the response bytes (header line + samples)."""
        seed = int(req["seed"]) & 0x7FFFFFFF
        if self.set_seed is not None:
            self.set_seed(seed)
        self.libc.srand(seed)
        if self.lib.espeak_SetVoiceByName(str(req["voice"]).encode()) != 0:
            return _error(f"espeak-ng has no voice {req['voice']!r}")
        for param, key in ((_RATE, "rate"), (_PITCH, "pitch"), (_RANGE, "range")):
            self.lib.espeak_SetParameter(param, int(req[key]), 0)
        self.chunks, self.events = [], []
        payload = str(req["text"]).encode("utf-8")
        code = self.lib.espeak_Synth(payload, len(payload) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if code != 0:
            return _error(f"espeak_Synth failed (code {code}) on {str(req['text'])[:40]!r}")
        self.lib.espeak_Synchronize()
        audio = b"".join(self.chunks)
        return json.dumps({"samples": len(audio) // 2, "events": self.events}).encode() + b"\n" + audio


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode() + b"\n"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _in_fresh_child(engine: Engine, req: dict) -> bytes:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: speak once from the pristine engine, hand the result over, vanish
        os.close(read_end)
        try:
            data = engine.synth(req)
        except BaseException as err:  # noqa: BLE001 - everything goes back as this utterance's error
            data = _error(f"{type(err).__name__}: {err}")
        try:
            _write_all(write_end, data)
        finally:
            os._exit(0)  # no atexit handlers, no flushing of buffers inherited from the worker
    os.close(write_end)
    parts = []
    with os.fdopen(read_end, "rb") as pipe:
        while chunk := pipe.read(1 << 16):
            parts.append(chunk)
    _, status = os.waitpid(pid, 0)
    data = b"".join(parts)
    if status != 0 or not data:
        return _error(f"espeak-ng crashed (wait status {status}) on {str(req.get('text'))[:40]!r}")
    return data


def main(argv: list[str]) -> int:
    out = sys.stdout.buffer
    try:
        engine = Engine(argv[1], argv[2] if len(argv) > 2 else "")
    except (OSError, RuntimeError, AttributeError) as err:
        out.write(_error(str(err)))
        out.flush()
        return 1
    out.write(json.dumps({"sample_rate": engine.sample_rate}).encode() + b"\n")
    out.flush()
    isolate = hasattr(os, "fork")
    while line := sys.stdin.buffer.readline():  # EOF: the parent closed the pipe or died
        try:
            req = json.loads(line)
        except ValueError as err:
            out.write(_error(f"bad request: {err}"))
        else:
            out.write(_in_fresh_child(engine, req) if isolate else engine.synth(req))
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
