"""The range every generation quantity must lie in, one per quantity, whoever gives it: an option
of `mapper generate` or `mapper eval`, a profile's inference defaults, the wizard or the web form.

Each limit says what is wrong without naming who gave the value (`must be between 0 and 10`); the
caller puts its own name in front (`--hp`, `v29.yaml: inference.top_p:`). Light on purpose (no
torch, no typer): `mapper --help` and the profile loader import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """Inclusive bounds; `None` leaves a side open."""

    low: float
    high: float | None = None

    def problem(self, value: float) -> str | None:
        if self.high is None:
            return None if value >= self.low else f"must be at least {self.low:g}"
        return None if self.low <= value <= self.high else f"must be between {self.low:g} and {self.high:g}"


@dataclass(frozen=True)
class Check:
    """A rule that is not a plain range, with what to say when it fails."""

    ok: Callable[[float], bool]
    message: str

    def problem(self, value: float) -> str | None:
        return None if self.ok(value) else self.message


GUIDANCE_OFF = 1.0  # a classifier-free guidance scale at or below this is plain conditional decoding


def guidance_on(cfg_scale: float | None) -> bool:
    """Whether a guidance scale asks for classifier-free guidance (a negative prompt per row).
    Decided here once for the request, the generator and the decoder."""
    return cfg_scale is not None and cfg_scale > GUIDANCE_OFF


STARS = Range(0, 15)  # a target star rating: `generate --difficulty`, `eval --target-stars`
WINDOW_SHARE = Range(0, 0.9)  # lookback, lookahead: a share of each window
MAX_WINDOW_SHARES = 0.95  # lookback plus lookahead must stay below this, leaving part of each window to write
TEMPERATURE = Range(0, 100)

# By quantity (a GenerateRequest field name; profiles use the same names under `inference.`).
LIMITS: dict[str, Range | Check] = {
    "difficulty": STARS,
    "keycount": Range(1, 18),
    "mapper_id": Check(lambda v: v > 0, "takes an osu! user id (a positive number)"),
    "hold_note_ratio": Range(0, 1),
    "scroll_speed_ratio": Range(0, 1),
    "hp": Range(0, 10),
    "overall_difficulty": Range(0, 10),
    "approach_rate": Range(0, 10),
    "slider_tick_rate": Range(0.5, 8),
    "cfg_scale": Check(lambda v: v >= GUIDANCE_OFF, "must be at least 1 (1 turns guidance off)"),
    "temperature": Check(lambda v: v >= 0, "must be >= 0"),
    "top_p": Check(lambda v: 0 < v <= 1, "must be in (0, 1]"),
    "top_k": Check(lambda v: v >= 0, "must be >= 0 (0 turns it off)"),
    "num_beams": Range(1, 16),
    "timing_temperature": TEMPERATURE,
    "mania_column_temperature": TEMPERATURE,
    "taiko_hit_temperature": TEMPERATURE,
    "lookback": WINDOW_SHARE,
    "lookahead": WINDOW_SHARE,
    "bpm": Range(10, 1000),
    "timing_passes": Range(1),
    "timing_leniency": Range(0, 1000),
    "batch_size": Range(1),
}

# A profile's inference defaults are the same quantities under other names.
PROFILE_INFERENCE = {"timer_iterations": "timing_passes", "max_batch_size": "batch_size"}


def problem(quantity: str, value) -> str | None:
    """What is wrong with `value` for `quantity` (None: fine, unknown or not given)."""
    limit = LIMITS.get(quantity)
    return None if value is None or limit is None else limit.problem(value)
