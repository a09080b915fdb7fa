"""Config validation before any work: every value with a valid range is checked when a command starts.

Two sources of ranges, checked in this order:

* **Typed configs** (`seqgen.core.config`): every section a family builds (its models,
  `data.prepare`, `data.datamodule`) is a dataclass keyed by its `_target_`, and `seqgen-sample`'s
  options are the families' sampling dataclasses; their types and `__post_init__` ranges check the
  keys they declare, so a key is checked because it is declared, not because its name matches.
* **The platform's rule table**, keyed by key *patterns* (``fnmatch`` on the dotted key, e.g.
  ``*.max_steps``), for the keys no dataclass declares: the trainer, the optimizer, callbacks,
  threads, sweeps, the commands' own options (`seqgen-eval`, `seqgen-serve`, ...) and the corpora.
  It skips the declared keys. A family can add ranges with a class attribute ``config_rules`` on
  its `Family` object (a sequence of `Rule`), and any module can call `register_rules`.

A failing value raises `SeqgenError` naming the key, the value and the valid range, e.g.::

    seqgen: error: data.datamodule.batch_size=-4 is out of range (train): must be an integer >= 1

A mandatory value left as ``???`` (``data=text_file`` without ``data.corpus.path``) gets the same
one-line error. ``null`` is accepted wherever a rule says `nullable` (it means "off" or "default").
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from seqgen.config_trust import check_objects
from seqgen.core.config import check_sample_options, check_sections, show_value
from seqgen.errors import SeqgenError

Check = Callable[[Any], bool]


@dataclass(frozen=True)
class Rule:
    """`patterns`: fnmatch patterns on the dotted key (``*.lr`` matches ``lr`` and ``optim.optimizer.lr``).

    `check(value) -> bool` decides; `valid` is the range as the error message states it.
    """

    patterns: tuple[str, ...]
    check: Check
    valid: str
    nullable: bool = True

    def matches(self, key: str) -> bool:
        dotted = "." + key
        return any(fnmatch.fnmatchcase(dotted, p if p.startswith("*") else "." + p) for p in self.patterns)


# Models compute in float32 (and keep hyperparameters such as lr in float32 tensors): a value
# beyond its range becomes inf there, however finite it is in Python.
FLOAT32_MAX = 3.4028234663852886e38


def _is_number(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value)) and abs(float(value)) <= FLOAT32_MAX
    except OverflowError:  # an int too large for a float
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def integer(low: int | None = None, high: int | None = None) -> tuple[Check, str]:
    def check(value: Any) -> bool:
        return _is_int(value) and (low is None or value >= low) and (high is None or value <= high)

    if high is None:
        return check, f"an integer >= {low}"
    return check, f"an integer in [{low}, {high}]"


def step_limit() -> tuple[Check, str]:
    """Lightning's max_steps / max_epochs: -1 for no limit, else at least one (0 trains nothing)."""

    def check(value: Any) -> bool:
        return _is_int(value) and (value == -1 or value >= 1)

    return check, "-1 (no limit) or an integer >= 1 (0 would train nothing)"


def candidates() -> tuple[Check, str]:
    """best-of-N: a number of candidates in [1, 32], or a list of them (`seqgen-eval best_of=[1,4]`)."""
    one, _ = integer(1, 32)

    def check(value: Any) -> bool:
        return value is None or one(value) or (isinstance(value, list) and bool(value) and all(one(v) for v in value))

    return check, "a number of candidates in [1, 32] (or a list of them: [1, 4])"


def style_choice() -> tuple[Check, str]:
    """`style=`: an index >= 0, writer:N, or a file (strings other than negative numbers pass);
    true / false is `seqgen-eval`'s switch for the style measures (`seqgen-sample` refuses it)."""

    def check(value: Any) -> bool:
        if isinstance(value, bool):
            return True
        if isinstance(value, int):
            return value >= 0
        return isinstance(value, str) and not re.fullmatch(r"\s*-\d+\s*", value)

    return check, "an index >= 0, writer:N or a style file"


def number(low: float | None = None, high: float | None = None, low_open: bool = False, high_open: bool = False) -> tuple[Check, str]:
    def check(value: Any) -> bool:
        if not _is_number(value):
            return False
        v = float(value)
        if low is not None and (v < low or (low_open and v == low)):
            return False
        return high is None or (v <= high and not (high_open and v == high))

    left = "(" if low_open or low is None else "["
    right = ")" if high_open else "]"
    lo = "-3.4e38" if low is None else f"{low:g}"
    hi = "3.4e38" if high is None else f"{high:g}"
    return check, f"a finite number in {left}{lo}, {hi}{right}"


def fractions() -> tuple[Check, str]:
    """Split fractions: a list of 2-3 numbers in [0, 1] summing to at most 1 (named presets pass)."""

    def check(value: Any) -> bool:
        if isinstance(value, str):
            return True  # a named split (enwik8 `standard`, IAM-OnDB `paper`): the corpus checks it
        if not isinstance(value, (list, tuple)) or not 2 <= len(value) <= 3:
            return False
        if not all(_is_number(v) and 0.0 <= float(v) <= 1.0 for v in value):
            return False
        return sum(float(v) for v in value) <= 1.0 + 1e-6 and float(value[0]) > 0

    return check, "2 or 3 fractions (train, valid, test) in [0, 1], train > 0, summing to at most 1, e.g. [0.9, 0.05, 0.05]"


def pair_of(inner: tuple[Check, str]) -> tuple[Check, str]:
    check_one, desc = inner

    def check(value: Any) -> bool:
        return isinstance(value, (list, tuple)) and len(value) == 2 and all(check_one(v) for v in value)

    return check, f"two values, each {desc}"


_DURATION = re.compile(r"^\d+(:\d{1,2}){0,3}$")


def duration() -> tuple[Check, str]:
    """Lightning's max_time: "DD:HH:MM:SS" (or a dict of timedelta fields with non-negative values)."""

    def check(value: Any) -> bool:
        if isinstance(value, str):
            return bool(_DURATION.match(value)) and any(int(p) for p in value.split(":"))
        if isinstance(value, dict):
            return all(_is_number(v) and v >= 0 for v in value.values()) and any(v > 0 for v in value.values())
        return False

    return check, 'a positive duration "DD:HH:MM:SS"'


def thread_count() -> tuple[Check, str]:
    """`auto` (the thread policy, seqgen/training/threads.py) or a whole number >= 1."""

    def check(value: Any) -> bool:
        return value == "auto" or (_is_int(value) and value >= 1)

    return check, "auto or an integer >= 1"


def rule(patterns: str | Sequence[str], spec: tuple[Check, str], nullable: bool = True) -> Rule:
    return Rule((patterns,) if isinstance(patterns, str) else tuple(patterns), spec[0], spec[1], nullable)


POSITIVE_INT = integer(1)
NON_NEGATIVE_INT = integer(0)
PROBABILITY = number(0.0, 1.0)

#: The platform's rule table: keys that no typed config declares (trainer, optim, callbacks, paths,
#: threads, sweeps, the commands' own options, corpora). A family declares its own keys in its
#: `config.py` (seqgen/core/config.py), whose dataclasses check them.
RULES: list[Rule] = [
    # sizes and counts (a family's own keys are declared by its typed configs, seqgen/core/config.py)
    rule(["*segment_length"], POSITIVE_INT),
    rule(["*.num_samples", "*.max_nonfinite_steps"], POSITIVE_INT),
    rule(["*_lines", "*_points"], POSITIVE_INT),
    rule(["style"], style_choice()),
    rule(["best_of", "*.best_of", "*.max_best_of"], candidates()),
    rule(["*.adapt_lines", "style_lines", "style_writers"], POSITIVE_INT),
    rule(["*.adapt_steps"], NON_NEGATIVE_INT),
    rule(["*.n_lines", "*.n_writers", "*.min_chars", "*.max_chars", "*.max_bytes", "*.max_points"], POSITIVE_INT),
    rule(["*.holdout_writers", "*.every_n_steps", "*.refresh_rate", "*.num_sanity_val_steps"], NON_NEGATIVE_INT),
    rule(["*.num_threads"], thread_count()),
    rule(["*.num_nodes", "*.accumulate_grad_batches", "*.log_every_n_steps", "*.check_val_every_n_epoch", "*.max_concurrent_trials"], POSITIVE_INT),
    rule(["*.max_steps", "*.max_epochs"], step_limit()),
    rule(["*.save_top_k"], integer(-1)),
    rule(["seed", "*.seed"], integer(0, 2**32 - 1)),
    # rates, probabilities, coefficients
    rule(["*.lr", "*_lr", "*learning_rate"], number(0.0, None, low_open=True), nullable=False),
    rule(["*.p", "*_p", "*prob", "*.probability", "*_prob_*", "*.epsilon_*", "*.gamma", "*.discount"], PROBABILITY),
    rule(["*optimizer.momentum", "*optimizer.alpha", "*optimizer.dampening"], PROBABILITY),
    rule(["*optimizer.betas"], pair_of(number(0.0, 1.0, high_open=True))),
    rule(["*optimizer.eps"], number(0.0, None, low_open=True)),
    rule(["*.weight_decay", "*.label_smoothing"], number(0.0, None)),
    rule(["*max_memory_gb"], number(0.0, None, low_open=True)),
    rule(["*grad_clip.value", "*.gradient_clip_val"], number(0.0, None, low_open=True)),
    rule(["*.val_check_interval"], number(0.0, None, low_open=True)),
    rule(["*.limit_*_batches"], number(0.0, None)),
    rule(["*.max_step"], number(0.0, None, low_open=True)),
    rule(["*.points_per_char"], pair_of(number(2.0, None))),
    # durations
    rule(["*duration", "*duration_*", "*_seconds", "*_secs", "*timeout", "*timeout_s"], number(0.0, None, low_open=True)),
    rule(["*.max_time"], duration()),
    # splits
    rule(["*.split", "*.splits", "*.fractions"], fractions()),
    # sweeps
    rule(["*resources_per_trial.cpu", "*resources_per_trial.gpu"], number(0.0, None)),
    rule(["*resources_per_trial.workers"], POSITIVE_INT),
    # dynamic evaluation (seqgen/eval/dynamic.py): null = the family's default; lr 0 = static
    rule(["dynamic_eval.lr", "dynamic_eval.grid.lr"], number(0.0, None)),
    rule(["dynamic_eval.decay", "dynamic_eval.grid.decay"], number(0.0, 1.0)),
    rule(["dynamic_eval.stats_units"], POSITIVE_INT),
    rule(["streams"], (lambda v: v == "auto" or (_is_int(v) and v >= 1), "auto or an integer >= 1")),  # seqgen-compress
    rule(["dynamic_eval.epsilon"], number(0.0, None, low_open=True)),
]

_EXTRA: list[Rule] = []


def register_rules(rules: Iterable[Rule]) -> None:
    """Add rules for every later validation (a family or plugin with its own ranges)."""
    _EXTRA.extend(rules)


def _family_rules(cfg: DictConfig) -> list[Rule]:
    """Rules a family declares (`Family.config_rules`), for the families this config names."""
    names = set()
    for key in ("data.family", "family"):
        value = OmegaConf.select(cfg, key, throw_on_missing=False, throw_on_resolution_failure=False)
        if isinstance(value, str):
            names.add(value)
    rules: list[Rule] = []
    if not names:
        return rules
    from seqgen.core.family import get_family

    for name in sorted(names):
        try:
            family = get_family(name)
        except (SeqgenError, ImportError):
            continue  # an unknown family is refused with its own message where it is used
        rules.extend(family.config_rules)
    return rules


def _walk(node: Any, prefix: str = "") -> Iterator[tuple[str, Any, Any, str]]:
    """(dotted key, parent node, child key, last key part) for every leaf and container."""
    if isinstance(node, DictConfig):
        keys: Iterable[Any] = node.keys()
    elif isinstance(node, ListConfig):
        keys = range(len(node))
    else:
        return
    for child in keys:
        key = f"{prefix}.{child}" if prefix else str(child)
        yield key, node, child, str(child)
        if OmegaConf.is_missing(node, child):
            continue
        try:
            value = node._get_node(child)  # no resolution: interpolations are resolved per leaf below
        except Exception:  # pragma: no cover - defensive
            continue
        if isinstance(value, (DictConfig, ListConfig)):
            yield from _walk(value, key)


def missing_keys(cfg: DictConfig, skip: Sequence[str] = ("hydra",)) -> list[str]:
    """Keys left as ``???`` (mandatory values not given)."""
    out = []
    for key, parent, child, _ in _walk(cfg):
        if key.split(".", 1)[0] in skip:
            continue
        if OmegaConf.is_missing(parent, child):
            out.append(key)
    return out


def _resolved(parent: Any, child: Any) -> tuple[bool, Any]:
    try:
        value = parent[child]
    except MissingMandatoryValue:
        return False, None  # points at a ??? value, reported by missing_keys
    except Exception:
        return False, None  # e.g. ${hydra:...} outside a Hydra app: not ours to judge
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=True) if _plain(value) else None
    return True, value


def _plain(node: Any) -> bool:
    try:
        OmegaConf.to_container(node, resolve=True)
        return True
    except Exception:
        return False


def validate_config(cfg: DictConfig, command: str = "", skip: Sequence[str] = ("hydra",), extra_rules: Iterable[Rule] = ()) -> None:
    """Raise `SeqgenError` for the first ``???`` value or out-of-range value of `cfg` (every command).

    `skip`: top-level sections not validated (Hydra's own). Runs in milliseconds; called by every
    command before any work, and by `seqgen.training.run.train` (sweeps, clusters) as well.
    """
    missing = missing_keys(cfg, skip)
    if missing:
        key = missing[0]
        more = f" (also unset: {', '.join(missing[1:4])})" if len(missing) > 1 else ""
        raise SeqgenError(f"{key} is mandatory and not set (???): pass {key}=<value> on the command line{more}")
    check_objects(cfg)
    typed = check_sections(cfg, skip, command)  # sections with a typed schema check their own keys
    if command == "sample":
        typed |= check_sample_options(cfg, command)
    rules = [*RULES, *_EXTRA, *_family_rules(cfg), *extra_rules]
    for key, parent, child, _ in _walk(cfg):
        if key.split(".", 1)[0] in skip or key.rsplit(".", 1)[-1].startswith("_") or key in typed:
            continue
        matching = [r for r in rules if r.matches(key)]
        if not matching:
            continue
        ok, value = _resolved(parent, child)
        if not ok:
            continue
        # Later rules (family, registered) override the platform's for the same key.
        chosen = matching[-1]
        if value is None:
            if chosen.nullable:
                continue
            raise SeqgenError(f"{key}=null is not allowed: must be {chosen.valid}")
        if isinstance(value, dict) and not _is_duration_rule(chosen):
            continue  # a config group that happens to match a pattern (e.g. a `split:` section)
        # A list passes when the rule accepts it whole (split fractions) or every element (per-layer sizes).
        if not chosen.check(value) and not (isinstance(value, list) and value and all(chosen.check(v) for v in value)):
            where = f" ({command})" if command else ""
            raise SeqgenError(f"{key}={show_value(value)} is out of range{where}: must be {chosen.valid}")


def validate_loaded(cfg: DictConfig, source: str) -> None:
    """`validate_config` for a config read from a run folder (`source`), as strict as the command
    line; the error names the file."""
    try:
        validate_config(cfg, "")
    except SeqgenError as err:
        raise SeqgenError(f"{source}: {err}") from None


def _is_duration_rule(r: Rule) -> bool:
    return "*.max_time" in r.patterns
