"""Slider end points as the published models saw them in training.

The original system's training data computed a slider's end point with its own curve code, which
differs from osu!'s (tokenization/slider_path.py) in small ways that matter for exact token parity:
- Bezier pieces (split at doubled points; linear sliders are one piece per pair of points) are
  measured with 50 evenly spaced samples, and the last piece is evaluated at parameter
  required / measured length, so a path that is too short is continued along the polynomial
  rather than in a straight line;
- a perfect-circle arc is shortened to the pixel length but never lengthened;
- a Catmull slider ends on its last control point.
Positions the model writes are decoded and fitted with osu!'s geometry; only the tokenizer's
SLIDER_END position uses this.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from tokenization.beatmap import CurveType, Slider

LENGTH_SAMPLES = 50
_SAMPLE_T = np.linspace(0.0, 1.0, LENGTH_SAMPLES)


@functools.lru_cache(maxsize=64)
def _sample_basis(degree: int) -> np.ndarray:
    """Bernstein basis of a degree at the 50 length samples: [samples, degree + 1]."""
    return _basis(degree, _SAMPLE_T)


def _basis(degree: int, t: np.ndarray) -> np.ndarray:
    k = np.arange(degree + 1)
    weights = np.array([math.comb(degree, int(i)) for i in k], dtype=np.float64)
    return weights * (1 - t[:, None]) ** (degree - k) * t[:, None] ** k


def _bernstein(points: np.ndarray, t: np.ndarray) -> np.ndarray:
    return _basis(len(points) - 1, t) @ points


def _measured_length(points: np.ndarray) -> float:
    if len(points) == 2:  # a straight piece: the samples measure it exactly
        return math.hypot(points[1][0] - points[0][0], points[1][1] - points[0][1])
    samples = _sample_basis(len(points) - 1) @ points
    steps = np.diff(samples, axis=0)
    return float(np.sqrt((steps * steps).sum(axis=1)).sum())


def _pieces_end(pieces: list[np.ndarray], required: float) -> tuple[float, float]:
    lengths = [_measured_length(p) for p in pieces]
    last_required = lengths[-1] if len(pieces) > 1 else required
    if len(pieces) > 1:
        last_required = max(0.0, lengths[-1] - (sum(lengths) - required))
    if lengths[-1] == 0:
        return float(pieces[-1][-1][0]), float(pieces[-1][-1][1])
    t = last_required / lengths[-1]
    last = pieces[-1]
    if len(last) == 2:
        return (float(last[0][0] + (last[1][0] - last[0][0]) * t), float(last[0][1] + (last[1][1] - last[0][1]) * t))
    end = _bernstein(last, np.array([t]))[0]
    return float(end[0]), float(end[1])


def _split_at_doubles(points: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    pieces, start = [], 0
    for index in range(1, len(points)):
        if points[index] == points[index - 1]:
            pieces.append(points[start:index])
            start = index
    pieces.append(points[start:])
    return [p for p in pieces if p]


def _circle_centre(a, b, c) -> tuple[float, float] | None:
    (ax, ay), (bx, by), (cx, cy) = a, b, c
    sa = (bx - cx) ** 2 + (by - cy) ** 2
    sb = (ax - cx) ** 2 + (ay - cy) ** 2
    sc = (ax - bx) ** 2 + (ay - by) ** 2
    if min(abs(sa), abs(sb), abs(sc)) <= 1e-8:
        return None
    s = sa * (sb + sc - sa)
    t = sb * (sa + sc - sb)
    u = sc * (sa + sb - sc)
    total = s + t + u
    if abs(total) <= 1e-8:
        return None
    return (s * ax + t * bx + u * cx) / total, (s * ay + t * by + u * cy) / total


def is_perfect_arc(points: list[tuple[float, float]]) -> bool:
    return len(points) == 3 and _circle_centre(*points) is not None


def legacy_end_position(slider: Slider) -> tuple[float, float]:
    points = [(p.x, p.y) for p in slider.path]
    required = slider.length
    kind = slider.curve_type
    if len(points) == 1:
        return points[0]
    if kind is CurveType.CATMULL:
        return points[-1]
    if kind is CurveType.PERFECT and is_perfect_arc(points):
        return _arc_end(points, required)
    if kind is CurveType.LINEAR:
        pieces = [list(pair) for pair in zip(points, points[1:])]
    else:
        pieces = _split_at_doubles(points)
    # straight pieces stay plain tuples (exact and cheap); curved ones become arrays for the sampling
    return _pieces_end([p if len(p) == 2 else np.array(p, dtype=np.float64) for p in pieces], required)


def _arc_end(points, required: float) -> tuple[float, float]:
    cx, cy = _circle_centre(*points)
    rel = [(x - cx, y - cy) for x, y in points]
    start = math.atan2(rel[0][1], rel[0][0])
    end = math.atan2(rel[2][1], rel[2][0])
    if end < start:
        end += 2 * math.pi
    angle = end - start
    ac = (rel[2][0] - rel[0][0], rel[2][1] - rel[0][1])
    if ac[1] * (rel[1][0] - rel[0][0]) - ac[0] * (rel[1][1] - rel[0][1]) < 0:
        angle = -(2 * math.pi - angle)  # the arc goes the other way round, through the middle point
    length = abs(angle * math.hypot(*rel[0]))
    if length > required:
        angle *= required / length
    x, y = rel[0]
    return (x * math.cos(angle) - y * math.sin(angle) + cx, x * math.sin(angle) + y * math.cos(angle) + cy)
