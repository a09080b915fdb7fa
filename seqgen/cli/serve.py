"""`seqgen-serve`: the handwriting synthesis web demo on a local port (docs/demo.md).

    seqgen-serve ckpt=outputs/demo/run                 # http://127.0.0.1:8000
    seqgen-serve ckpt=<run> port=0 max_concurrent=4    # any free port, four writers at once
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig

from seqgen.cli.common import quiet_libraries, say, seqgen_main
from seqgen.errors import SeqgenError, friendly_errors
from seqgen.core.checkpoints import load_model
from seqgen.core.family import Family, family_of
from seqgen.training.threads import SMALL_GENERATION_STEP_MACS, apply_thread_policy, parse_setting

log = logging.getLogger(__name__)

# (key, lowest, highest): every bound is checked before the model is loaded
INT_BOUNDS = {
    "port": (0, 65535), "max_lines": (1, 100), "max_chars": (1, 1000),
    "max_concurrent": (1, 256), "max_queue": (0, 10_000), "max_upload_bytes": (100, 100_000_000),
    "max_prime_points": (10, 100_000), "max_uploads": (1, 100_000), "max_jobs": (1, 100_000),
    "max_capture_lines": (1, 64), "adapt_steps": (0, 1000), "max_best_of": (1, 32),
}


def validate(cfg: DictConfig) -> None:
    """Refuse bad settings with a message naming the key, the value and the valid range."""
    parse_setting(cfg.get("num_threads"))
    for key, (low, high) in INT_BOUNDS.items():
        value = cfg.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise SeqgenError(f"{key}={value!r} is invalid: give a whole number in [{low}, {high}]")
    seconds = cfg.get("adapt_seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 3600:
        raise SeqgenError(f"adapt_seconds={seconds!r} is invalid: give CPU seconds in (0, 3600]")
    ppc = cfg.get("max_points_per_char")
    if isinstance(ppc, bool) or not isinstance(ppc, (int, float)) or not 1 <= ppc <= 1000:
        raise SeqgenError(f"max_points_per_char={ppc!r} is invalid: give a number in [1, 1000]")
    if not isinstance(cfg.get("host"), str) or not cfg.host:
        raise SeqgenError(f"host={cfg.get('host')!r} is invalid: give an address such as 127.0.0.1")
    if str(cfg.log_level) not in ("critical", "error", "warning", "info", "debug"):
        raise SeqgenError(f"log_level={cfg.log_level!r} is invalid: critical, error, warning, info or debug")


def styles_folder(setting: Any, family: Family, cfg: DictConfig) -> Optional[Path]:
    """The configured real-style folder (auto: the family's default folder, when it holds styles)."""
    if setting is None or str(setting).lower() in ("", "null", "none"):
        return None
    if str(setting) == "auto":
        default = family.default_styles_dir(cfg)
        return default if default is not None and any(default.glob("style-*-strokes.npy")) else None
    folder = Path(str(setting)).expanduser()
    if not folder.is_dir():
        raise SeqgenError(f"styles_dir={setting}: no such folder; give the styles/ folder of the real samples, auto or null")
    return folder


def build_engine(cfg: DictConfig) -> Any:
    """Load the checkpoint (weights only, through the family registry) and the configured styles."""
    from seqgen.data.handwriting.user_styles import load_real_styles
    from seqgen.serve.engine import Engine, Limits

    model = load_model(cfg.ckpt, family="handwriting").to(cfg.device)
    folder = styles_folder(cfg.get("styles_dir"), family_of(model), cfg)
    real = load_real_styles(folder) if folder is not None else []
    limits = Limits(**{key: cfg[key] for key in Limits.__dataclass_fields__})
    reader = None
    if cfg.get("recognizer"):
        from seqgen.families.handwriting.legibility import recognizer_for

        reader = recognizer_for(model, cfg.recognizer, cfg.device).read
    return Engine(model, limits, real, reader)


@friendly_errors
def run(cfg: DictConfig) -> None:
    import uvicorn

    from seqgen.serve.app import create_app

    quiet_libraries()
    validate(cfg)
    engine = build_engine(cfg)
    apply_thread_policy(cfg.get("num_threads"), engine.model, int(cfg.max_lines), {"accelerator": str(cfg.device)}, training=False,
                        small=SMALL_GENERATION_STEP_MACS)
    app = create_app(engine)
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("host=%s: the demo is reachable from other machines", cfg.host)
    config = uvicorn.Config(app, host=str(cfg.host), port=int(cfg.port), log_level=str(cfg.log_level))
    server = uvicorn.Server(config)
    say(f"[seqgen] serving {cfg.ckpt} ({len(engine.styles)} styles, {len(engine.vocab)} characters); Ctrl-C stops")
    try:
        server.run()
    except KeyboardInterrupt:  # Ctrl-C: uvicorn has shut down gracefully, then re-raised the signal
        say("[seqgen] server stopped")


@seqgen_main("serve")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
