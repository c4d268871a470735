"""Rhythm against the real map: which generated objects land where the real ones do, and on its grid."""

from __future__ import annotations

from models.evaluation.grid import COMMON_DIVISORS, Grid

ONSET_TOLERANCES_MS = (10.0, 20.0)
GRID_TOLERANCES_MS = (2.0, 10.0)


def matched_onsets(predicted: list[float], reference: list[float], tolerance_ms: float) -> int:
    """Most one-to-one pairs of times at most `tolerance_ms` apart (each time used once: chords count per note).

    On sorted times, pairing the earliest unmatched time of each list whenever they are close enough
    and otherwise dropping the earlier one is optimal for a symmetric window (an exchange argument, as
    mir_eval's onset F-measure relies on)."""
    a, b = sorted(predicted), sorted(reference)
    i = j = pairs = 0
    while i < len(a) and j < len(b):
        if abs(a[i] - b[j]) <= tolerance_ms:
            pairs, i, j = pairs + 1, i + 1, j + 1
        elif a[i] < b[j]:
            i += 1
        else:
            j += 1
    return pairs


def onset_scores(predicted: list[float], reference: list[float], tolerance_ms: float) -> dict[str, float]:
    """Precision, recall and F1 of the predicted onsets; two empty maps agree perfectly."""
    if not predicted and not reference:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    pairs = matched_onsets(predicted, reference, tolerance_ms)
    precision = pairs / len(predicted) if predicted else 0.0
    recall = pairs / len(reference) if reference else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def grid_share(times: list[float], grid: Grid, tolerance_ms: float) -> float | None:
    """Share of `times` within `tolerance_ms` of the grid (1/1-1/16, 1/3, 1/6, 1/12); None when undefined."""
    if not times or not grid:
        return None
    close = sum(1 for t in times if grid.distance(t, COMMON_DIVISORS) <= tolerance_ms + 1e-9)
    return close / len(times)


def compare_rhythm(generated_times: list[float], reference_times: list[float], reference_grid: Grid) -> dict:
    out: dict = {}
    for tolerance in ONSET_TOLERANCES_MS:
        for name, value in onset_scores(generated_times, reference_times, tolerance).items():
            out[f"onset_{name}_{tolerance:g}ms"] = value
    for tolerance in GRID_TOLERANCES_MS:
        out[f"on_reference_grid_{tolerance:g}ms"] = grid_share(generated_times, reference_grid, tolerance)
    return out
