"""What the configs declare about sheets and plotters: page sizes and the plotter's G-code options.

Light on purpose (no numpy at import): `seqgen/families/handwriting/config.py` declares the
sampling options with these, and `import seqgen` imports every family's config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Optional

from seqgen.errors import SeqgenError

if TYPE_CHECKING:
    import numpy as np

PAGE_SIZES_MM: dict[str, tuple[float, float]] = {
    "a3": (297.0, 420.0), "a4": (210.0, 297.0), "a5": (148.0, 210.0), "a6": (105.0, 148.0),
    "letter": (215.9, 279.4), "legal": (215.9, 355.6),
}


def page_size(spec: str) -> tuple[float, float]:
    """"A4", "Letter", ... or "WxH" in millimetres ("148x210") -> (width, height) in mm."""
    text = str(spec).strip().lower()
    if text in PAGE_SIZES_MM:
        return PAGE_SIZES_MM[text]
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*x\s*(\d+(?:\.\d+)?)(?:\s*mm)?", text)
    if match is None:
        names = ", ".join(n.capitalize() if n != "letter" else "Letter" for n in PAGE_SIZES_MM)
        raise SeqgenError(f"page={spec!r} is not a page size: give one of {names} or WxH in mm, e.g. 148x210")
    width, height = float(match.group(1)), float(match.group(2))
    if not (10.0 <= width <= 5000.0 and 10.0 <= height <= 5000.0):
        raise SeqgenError(f"page={spec!r}: each side must be between 10 and 5000 mm")
    return width, height


ORIGINS = ("bottom-left", "top-left")
PEN_MODES = ("servo", "z")


@dataclass
class GcodeOptions:
    """How a plotter is driven: the `gcode.*` options of `seqgen-sample` (the handwriting family's
    `HandwritingSampleOptions.gcode`). Every value is checked when the options are built."""

    pen: str = "servo"
    pen_up: str = "M3 S30"
    pen_down: str = "M3 S90"
    pen_delay_s: float = 0.15
    z_up: float = 3.0
    z_down: float = 0.0
    feed_z: float = 600.0
    feed_draw: float = 1500.0
    feed_travel: float = 4000.0
    origin: str = "bottom-left"
    offset: Any = (0.0, 0.0)  # [x, y] mm of the origin corner on the machine
    bed: Optional[str] = None  # the machine's area WxH in mm: a page that does not fit is refused
    header: Any = ("G21 ; millimetres", "G90 ; absolute coordinates")  # a line or a list of lines
    footer: Any = ()
    order: str = "nearest"
    curve_steps: int = 4

    @classmethod
    def from_mapping(cls, values: Optional[Mapping[str, Any]]) -> "GcodeOptions":
        """Options from a mapping (null = default); SeqgenError naming a bad key or value."""
        given = {k: v for k, v in dict(values or {}).items() if v is not None}
        unknown = sorted(set(given) - set(cls.__dataclass_fields__))
        if unknown:
            raise SeqgenError(f"unknown gcode option(s) {', '.join(unknown)}: the options are {', '.join(cls.__dataclass_fields__)}")
        return cls(**given)

    def __post_init__(self) -> None:
        self.header, self.footer = _lines(self.header), _lines(self.footer)
        self.offset = _pair(self.offset, "gcode.offset")
        if self.pen not in PEN_MODES:
            raise SeqgenError(f"gcode.pen={self.pen!r}: give servo (pen_up / pen_down commands) or z (z_up / z_down heights)")
        if self.origin not in ORIGINS:
            raise SeqgenError(f"gcode.origin={self.origin!r}: give {' or '.join(ORIGINS)} (the page corner at the machine's origin)")
        if self.order not in ("nearest", "written"):
            raise SeqgenError(f"gcode.order={self.order!r}: give nearest (short pen-up travel) or written")
        for key in ("feed_draw", "feed_travel", "feed_z"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value <= 100_000:
                raise SeqgenError(f"gcode.{key}={value!r}: give a feed rate in mm/min between 1 and 100000")
        if isinstance(self.curve_steps, bool) or not isinstance(self.curve_steps, int) or not 1 <= self.curve_steps <= 32:
            raise SeqgenError(f"gcode.curve_steps={self.curve_steps!r}: give a whole number in [1, 32]")
        if not 0 <= float(self.pen_delay_s) <= 10:
            raise SeqgenError(f"gcode.pen_delay_s={self.pen_delay_s!r}: give seconds in [0, 10]")
        if self.pen == "z" and not float(self.z_up) > float(self.z_down):
            raise SeqgenError(f"gcode.z_up={self.z_up} must be above gcode.z_down={self.z_down}")
        if self.pen == "servo" and (not self.pen_up.strip() or self.pen_up.strip() == self.pen_down.strip()):
            raise SeqgenError("gcode.pen_up and gcode.pen_down must be two different, non-empty commands")
        if self.bed is not None:
            page_size(self.bed)

    def to_machine(self, points: np.ndarray, page_height: float) -> np.ndarray:
        """Page mm (y down from the top-left) -> machine coordinates."""
        import numpy as np

        x = points[:, 0] + self.offset[0]
        y = (page_height - points[:, 1] if self.origin == "bottom-left" else points[:, 1]) + self.offset[1]
        return np.stack([x, y], axis=1)

    def to_page(self, points: np.ndarray, page_height: float) -> np.ndarray:
        import numpy as np

        x = points[:, 0] - self.offset[0]
        y = points[:, 1] - self.offset[1]
        return np.stack([x, page_height - y if self.origin == "bottom-left" else y], axis=1)

    def home(self, page_height: float) -> np.ndarray:
        """The machine's origin in page coordinates (where the pen starts)."""
        import numpy as np

        return self.to_page(np.zeros((1, 2)), page_height)[0]


def _lines(value: Any) -> tuple[str, ...]:
    return tuple(str(line) for line in ([value] if isinstance(value, str) else list(value)))


def _pair(value: Any, key: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SeqgenError(f"{key}={value!r}: give two numbers in mm, e.g. [10, 20]") from None
    return x, y
