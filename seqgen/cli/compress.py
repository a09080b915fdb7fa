"""`seqgen-compress` / `seqgen-decompress`: a text model as a real compressor (seqgen/families/text/codec.py).

    seqgen-compress ckpt=<text run> in=FILE out=FILE.sqz [dynamic=true] [streams=auto]
    seqgen-decompress ckpt=<text run> in=FILE.sqz out=FILE
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from seqgen.cli.common import finished, run_dir, say, seqgen_main, start
from seqgen.errors import SeqgenError, friendly_errors
from seqgen.io import atomic_write, sha256_file, write_json


def _paths(cfg: DictConfig) -> tuple[Path, Path]:
    source, target = Path(str(cfg["in"])).expanduser(), Path(str(cfg.out)).expanduser()
    if not source.is_file():
        raise SeqgenError(f"in={source} is not a file: pass the file to read")
    if target.exists() and target.resolve() == source.resolve():
        raise SeqgenError(f"out={target} is the input file: write to another path")
    if target.is_dir():
        raise SeqgenError(f"out={target} is a folder: pass a file path")
    return source, target


def _model(cfg: DictConfig) -> tuple[Any, Path, bytes]:
    from seqgen.core.checkpoints import find_checkpoint, load_model

    ckpt = find_checkpoint(cfg.ckpt)
    model = load_model(ckpt, family="text")
    return model, ckpt, bytes.fromhex(sha256_file(ckpt))


def _statistics_for(cfg: DictConfig, ckpt: Path, model: Any) -> Callable[[Any], Any]:
    """The RMS statistics of dynamic coding, from the run's own training data (checked against the checkpoint)."""

    def statistics(settings: Any) -> Any:
        from seqgen.data.identity import check_data_identity
        from seqgen.families.text.dynamic import training_statistics
        from seqgen.core.checkpoints import read_checkpoint, run_config

        trained = run_config(ckpt)
        if cfg.get("data_dir"):
            with open_dict(trained):
                trained.data.datamodule.data_dir = str(cfg.data_dir)
        datamodule = instantiate(trained.data.datamodule)
        datamodule.load_info()
        check_data_identity(read_checkpoint(ckpt)["seqgen"].get("data"), datamodule.info, datamodule.data_dir, "dynamic coding", "data_dir")
        return training_statistics(model, datamodule.data_dir, settings)

    return statistics


def _report(kind: str, source: Path, target: Path, stats: Any, extra: dict[str, Any]) -> dict[str, Any]:
    rate = stats.plain_bytes / 1024 / stats.cpu_seconds if stats.cpu_seconds > 0 else float("nan")
    summary = {"in": str(source), "out": str(target), "plain_bytes": stats.plain_bytes, "packed_bytes": stats.packed_bytes,
               "bits_per_byte": stats.bits_per_byte, "units": stats.units, "escaped_units": stats.escaped, "streams": stats.streams,
               "cpu_seconds": stats.cpu_seconds, "kib_per_cpu_second": rate, **extra}
    write_json(run_dir() / f"{kind}.json", summary)
    return summary


@friendly_errors
def compress_run(cfg: DictConfig) -> dict[str, Any]:
    from seqgen.eval.dynamic import DynamicSettings
    from seqgen.families.text.codec import CodecSettings, compress
    from seqgen.families.text.dynamic import TEXT_DEFAULTS

    start(cfg, "compress")
    source, target = _paths(cfg)
    if cfg.dynamic not in (True, False):
        raise SeqgenError(f"dynamic={cfg.dynamic!r}: use true or false")
    model, ckpt, sha = _model(cfg)
    data = source.read_bytes()
    dynamic = None
    if cfg.dynamic:
        options = OmegaConf.to_container(cfg.dynamic_eval, resolve=True)
        method = options.get("method") or "rms"
        if method not in TEXT_DEFAULTS:
            raise SeqgenError(f"dynamic_eval.method={method!r}: use {' or '.join(TEXT_DEFAULTS)}")
        dynamic = DynamicSettings.from_config(options, TEXT_DEFAULTS[method])
    settings = CodecSettings(cfg.streams, int(cfg.threads), dynamic)
    blob, stats = compress(model, data, settings, sha, _statistics_for(cfg, ckpt, model))
    atomic_write(target, blob)
    estimate = stats.ideal_bits / max(len(data), 1)
    summary = _report("compress", source, target, stats, {"ideal_bits_per_byte": estimate, "settings": settings_record(settings),
                                                          "checkpoint": str(ckpt)})
    say(f"[seqgen] {source}: {len(data):,} -> {len(blob):,} bytes, {stats.bits_per_byte:.4f} bits per byte "
        f"(coded symbols {estimate:.4f}, the rest is the header); {stats.streams} stream(s), {stats.escaped} escaped byte(s), "
        f"{stats.cpu_seconds:.1f} CPU s, {summary['kib_per_cpu_second']:.1f} KiB per CPU second")
    finished("compression", run_dir())
    return summary


def settings_record(settings: Any) -> dict[str, Any]:
    return {"streams": settings.streams, "threads": settings.threads, "dynamic": settings.dynamic.as_dict() if settings.dynamic else None}


def _check_given(cfg: DictConfig, header: Any) -> None:
    """Refuse a decompression whose given settings differ from those the file was written with."""
    recorded = {"streams": header.settings.streams, "threads": header.settings.threads, "dynamic": header.settings.dynamic is not None}
    if header.settings.dynamic is not None:
        recorded.update({f"dynamic_eval.{k}": v for k, v in header.settings.dynamic.as_dict().items()})
    for key, value in recorded.items():
        given = OmegaConf.select(cfg, key)
        if given is not None and given != value and not (isinstance(value, float) and isinstance(given, (int, float)) and float(given) == value):
            raise SeqgenError(f"{cfg['in']} was compressed with {key}={value}, not {key}={given}: leave {key} out (the file records every setting)")


@friendly_errors
def decompress_run(cfg: DictConfig) -> dict[str, Any]:
    from seqgen.families.text.codec import Header, decompress

    start(cfg, "decompress")
    source, target = _paths(cfg)
    model, ckpt, sha = _model(cfg)
    blob = source.read_bytes()
    _check_given(cfg, Header.unpack(blob, str(source))[0])
    data, stats = decompress(model, blob, str(source), sha, _statistics_for(cfg, ckpt, model))
    atomic_write(target, data)  # only after the content matched its recorded checksum
    summary = _report("decompress", source, target, stats, {"checkpoint": str(ckpt)})
    say(f"[seqgen] {source}: {len(blob):,} -> {len(data):,} bytes, checksum verified; {stats.streams} stream(s), "
        f"{stats.cpu_seconds:.1f} CPU s, {summary['kib_per_cpu_second']:.1f} KiB per CPU second")
    finished("decompression", run_dir())
    return summary


@seqgen_main("compress")
def compress_main(cfg: DictConfig) -> None:
    compress_run(cfg)


@seqgen_main("decompress")
def decompress_main(cfg: DictConfig) -> None:
    decompress_run(cfg)
