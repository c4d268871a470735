"""Constructed maps of all four modes whose evaluation figures are known exactly, for `mapper eval`.

Every map has one red line (150 BPM: a 400 ms beat, so every 1/1 and 1/2 snap is a whole ms) and
one object per beat; osu!/catch alternate circles and half-beat sliders, taiko dons and kats,
mania walks the four columns with a half-beat hold every fourth note."""

from __future__ import annotations

from pathlib import Path

BEAT_MS = 400.0
OFFSET_MS = 500.0
OBJECTS = 64
MODES = {"osu": 0, "taiko": 1, "catch": 2, "mania": 3}


def object_lines(mode: str, times: list[float], beat_ms: float) -> list[str]:
    lines = []
    for k, t in enumerate(times):
        stamp = _ms(t)
        if mode in ("osu", "catch"):
            x, y = 96 + 64 * (k % 5), 96 + 48 * (k % 4)
            if k % 2:
                # 100 px per beat at SliderMultiplier 1.4 and SV 1 is 140 px: half a beat is 70 px
                lines.append(f"{x},{y},{stamp},2,0,L|{x + 70}:{y},1,70")
            else:
                lines.append(f"{x},{y},{stamp},1,0,0:0:0:0:")
        elif mode == "taiko":
            lines.append(f"256,192,{stamp},1,{2 if k % 2 else 0},0:0:0:0:")
        else:
            x = 64 + 128 * (k % 4)
            if k % 4 == 3:
                lines.append(f"{x},192,{stamp},128,0,{_ms(t + beat_ms / 2)}:0:0:0:0:")
            else:
                lines.append(f"{x},192,{stamp},1,0,0:0:0:0:")
    return lines


def map_text(mode: str, *, shift_ms: float = 0.0, bpm_scale: float = 1.0, keep=lambda k: True,
             nudge: dict[int, float] | None = None, tags: str = "", extra_objects: list[str] | None = None) -> str:
    """The map of `mode`; `shift_ms` moves everything, `bpm_scale` speeds the tempo up (objects follow
    their own grid), `keep(k)` drops objects, `nudge` moves object k by that many ms off its grid."""
    beat = BEAT_MS / bpm_scale
    offset = OFFSET_MS + shift_ms
    times = [round(offset + k * beat + (nudge or {}).get(k, 0.0), 3) for k in range(OBJECTS)]
    # keep the pattern of each object the same whatever is dropped
    lines = [line for k, line in enumerate(object_lines(mode, times, beat)) if keep(k)]
    lines += extra_objects or []
    return f"""osu file format v14

[General]
AudioFilename: audio.mp3
Mode: {MODES[mode]}

[Metadata]
Title:Known
Artist:Test
Creator:tester
Version:{mode}
Tags:{tags}

[Difficulty]
HPDrainRate:5
CircleSize:4
OverallDifficulty:5
ApproachRate:5
SliderMultiplier:1.4
SliderTickRate:1

[TimingPoints]
{_ms(offset)},{beat!r},4,2,0,60,1,0

[HitObjects]
""" + "\n".join(lines) + "\n"


def write_map(folder: Path, name: str, mode: str, **changes) -> Path:
    path = folder / f"{name}.osu"
    path.write_text(map_text(mode, **changes), encoding="utf-8")
    return path


def _ms(value: float) -> str:
    """A time as lazer writes fractional ones: up to 3 decimals, no trailing zeros."""
    return f"{value:.3f}".rstrip("0").rstrip(".")
