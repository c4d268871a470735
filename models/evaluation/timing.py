"""Timing figures: a map's own tempo and offset, and how its red lines compare with the real map's."""

from __future__ import annotations

import bisect

from models.evaluation.grid import Grid, main_line

RED_LINE_TOLERANCES_MS = (2.0, 10.0)


def timing_summary(grid: Grid, start: float, end: float) -> dict:
    """The main tempo (the red line governing most of the objects' span), its first beat, and the red lines."""
    line = main_line(grid, start, end)
    if line is None:
        return {"bpm": None, "offset_ms": None, "red_lines": 0, "bpm_min": None, "bpm_max": None}
    bpms = [60000.0 / tp.beat_length for tp in grid.lines]
    return {"bpm": 60000.0 / line.beat_length, "offset_ms": line.time % line.beat_length,
            "red_lines": len(grid.lines), "bpm_min": min(bpms), "bpm_max": max(bpms)}


def compare_timing(generated: Grid, reference: Grid, start: float, end: float) -> dict:
    """BPM error (%) and offset error (ms, folded into half a beat either way) of the generated main
    red line against the reference red line at its time, and the share of the reference's red lines
    that have a generated red line within 2 ms and 10 ms."""
    out: dict = {"bpm_error_pct": None, "offset_error_ms": None}
    mine = main_line(generated, start, end)
    if mine is not None and reference:
        theirs = reference.line_at(mine.time)
        out["bpm_error_pct"] = (theirs.beat_length / mine.beat_length - 1.0) * 100.0
        beat = theirs.beat_length
        phase = (mine.time - theirs.time) % beat
        out["offset_error_ms"] = phase - beat if phase > beat / 2 else phase
    for tolerance in RED_LINE_TOLERANCES_MS:
        key = f"red_lines_matched_{tolerance:g}ms"
        if not reference:
            out[key] = None
            continue
        hits = sum(1 for line in reference.lines if _nearest_gap(generated.times, line.time) <= tolerance + 1e-9)
        out[key] = hits / len(reference.lines)
    return out


def _nearest_gap(sorted_times: list[float], time: float) -> float:
    index = bisect.bisect_left(sorted_times, time)
    near = sorted_times[max(index - 1, 0):index + 1]
    return min((abs(time - t) for t in near), default=float("inf"))
