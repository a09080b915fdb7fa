"""The TIMIT phone sets: 61 labels as transcribed, folded to 48 for training and 39 for scoring.

The folding of Lee and Hon (1989), as in the usual recipes (Kaldi's ``phones.60-48-39.map``):
closures of voiced stops (bcl, dcl, gcl) become ``vcl`` and of unvoiced ones (pcl, tcl, kcl) ``cl``;
``h#`` and ``pau`` become ``sil``; ``ax-h -> ax``, ``axr -> er``, ``hv -> hh``, ``em -> m``,
``eng -> ng``, ``nx -> n``, ``ux -> uw``; the glottal stop ``q`` is dropped (its samples join the
previous phone). For scoring (39), additionally ``ao -> aa``, ``ax -> ah``, ``ix -> ih``,
``el -> l``, ``en -> n``, ``zh -> sh``, and ``cl``, ``vcl``, ``epi`` -> ``sil``.

Scoring maps (meta.json "scoring", applied by the phoneme recogniser to both sides before the
PER): TIMIT's training labels -> 39 phones; espeak-ng's allophone variants -> their base phoneme.

Also here: the standard speaker lists, i.e. the 24-speaker core test set and the 50-speaker
development set (taken from the TIMIT test speakers outside the core set).
"""

from __future__ import annotations

import re

from seqgen.errors import SeqgenError

#: 61 -> 48 (None = dropped)
FOLD_61_TO_48: dict[str, str | None] = {
    "aa": "aa", "ae": "ae", "ah": "ah", "ao": "ao", "aw": "aw", "ax": "ax", "ax-h": "ax", "axr": "er",
    "ay": "ay", "b": "b", "bcl": "vcl", "ch": "ch", "d": "d", "dcl": "vcl", "dh": "dh", "dx": "dx",
    "eh": "eh", "el": "el", "em": "m", "en": "en", "eng": "ng", "epi": "epi", "er": "er", "ey": "ey",
    "f": "f", "g": "g", "gcl": "vcl", "h#": "sil", "hh": "hh", "hv": "hh", "ih": "ih", "ix": "ix",
    "iy": "iy", "jh": "jh", "k": "k", "kcl": "cl", "l": "l", "m": "m", "n": "n", "ng": "ng", "nx": "n",
    "ow": "ow", "oy": "oy", "p": "p", "pau": "sil", "pcl": "cl", "q": None, "r": "r", "s": "s",
    "sh": "sh", "t": "t", "tcl": "cl", "th": "th", "uh": "uh", "uw": "uw", "ux": "uw", "v": "v",
    "w": "w", "y": "y", "z": "z", "zh": "zh",
}
#: 48 -> 39
FOLD_48_TO_39: dict[str, str] = {p: p for p in set(v for v in FOLD_61_TO_48.values() if v)}
FOLD_48_TO_39.update({"ao": "aa", "ax": "ah", "ix": "ih", "el": "l", "en": "n", "zh": "sh", "cl": "sil", "vcl": "sil", "epi": "sil"})

PHONES_61: tuple[str, ...] = tuple(sorted(FOLD_61_TO_48))
PHONES_48: tuple[str, ...] = tuple(sorted(FOLD_48_TO_39))
PHONES_39: tuple[str, ...] = tuple(sorted(set(FOLD_48_TO_39.values())))

#: The 24-speaker core test set (2 male, 1 female per dialect region DR1..DR8).
CORE_TEST_SPEAKERS: tuple[str, ...] = (
    "MDAB0", "MWBT0", "FELC0", "MTAS1", "MWEW0", "FPAS0", "MJMP0", "MLNT0", "FPKT0", "MLLL0", "MTLS0", "FJLM0",
    "MBPM0", "MKLT0", "FNLP0", "MCMJ0", "MJDH0", "FMGD0", "MGRT0", "MNJM0", "FDHC0", "MJLN0", "MPAM0", "FMLD0",
)
#: The standard 50-speaker development set (test speakers outside the core test set).
DEV_SPEAKERS: tuple[str, ...] = (
    "FAKS0", "FDAC1", "FJEM0", "MGWT0", "MJAR0", "MMDB1", "MMDM2", "MPDF0", "FCMH0", "FKMS0",
    "MBDG0", "MBWM0", "MCSH0", "FADG0", "FDMS0", "FEDW0", "MGJF0", "MGLB0", "MRTK0", "MTAA0",
    "MTDT0", "MTHC0", "MWJG0", "FNMR0", "FREW0", "FSEM0", "MBNS0", "MMJR0", "MDLS0", "MDLF0",
    "MDVC0", "MERS0", "FMAH0", "FDRW0", "MRCS0", "MRJM4", "FCAL1", "MMWH0", "FJSJ0", "MAJC0",
    "MJSW0", "MREB0", "FGJD0", "FJMG0", "MROA0", "MTEB0", "MJFC0", "MRJR0", "FMML0", "MRWS1",
)


def fold_phone(phone: str, to: int) -> str | None:
    """One 61-set label -> its 61/48/39-set label (None: dropped, i.e. ``q`` when folding)."""
    if phone not in FOLD_61_TO_48:
        raise SeqgenError(f"unknown TIMIT phone {phone!r}: the 61-phone set is {' '.join(PHONES_61)}")
    if to == 61:
        return phone
    folded = FOLD_61_TO_48[phone]
    if to == 48 or folded is None:
        return folded
    if to == 39:
        return FOLD_48_TO_39[folded]
    raise SeqgenError(f"phone set {to} does not exist: use 61, 48 or 39")


def fold_segments(segments: list[tuple[int, int, str]], to: int) -> list[tuple[int, int, str]]:
    """Fold (begin, end, phone) segments; a dropped phone's samples go to the previous segment
    (the next one if it is first), and neighbours that fold to the same label are NOT merged
    (they are separate phones, e.g. a closure followed by silence)."""
    out: list[tuple[int, int, str]] = []
    pending_start: int | None = None
    for begin, end, phone in segments:
        label = fold_phone(phone, to)
        if label is None:
            if out:
                out[-1] = (out[-1][0], end, out[-1][2])
            else:
                pending_start = begin
            continue
        out.append((pending_start if pending_start is not None else begin, end, label))
        pending_start = None
    return out


# ------------------------------------------------------------------------------------- scoring


def timit_scoring(phone_set: int) -> dict[str, object]:
    """The TIMIT scoring map (meta.json "scoring"): training labels -> the 39-phone set ("" = dropped)."""
    if phone_set == 39:
        return {"name": "TIMIT 39 phones", "fold": {}}
    source = FOLD_61_TO_48 if phone_set == 61 else FOLD_48_TO_39
    fold = {p: (fold_phone(p, 39) or "") if phone_set == 61 else FOLD_48_TO_39[p] for p in source}
    return {"name": f"TIMIT {phone_set} -> 39 phones (Lee and Hon 1989)", "fold": fold}


_ESPEAK_VARIANT = re.compile(r"(?<=.)[-#\[2-5]+$")


def espeak_base_phoneme(phoneme: str) -> str:
    """An espeak-ng phoneme mnemonic without its allophone-variant marks (a trailing ``-``, ``#``,
    ``[`` or digit 2-5: ``@2``, ``@-`` -> ``@``; ``t#``, ``t2``, ``t[`` -> ``t``; ``aI3`` -> ``aI``);
    a one-character mnemonic is a phoneme of its own (``3``) and stays."""
    return _ESPEAK_VARIANT.sub("", phoneme)


def espeak_scoring(phonemes: list[str]) -> dict[str, object]:
    """The espeak-ng scoring map: allophone variants -> their base phoneme (as TIMIT's 48 -> 39
    merges allophones such as ix/ih), so the PER counts phoneme confusions a listener would hear."""
    fold = {p: espeak_base_phoneme(p) for p in phonemes if espeak_base_phoneme(p) != p}
    return {"name": f"espeak-ng phonemes, {len(fold)} allophone variants folded to their base", "fold": fold}
