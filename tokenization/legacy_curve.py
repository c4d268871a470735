"""Slider end points as the published models saw them in training.

The original system's training data computed a slider's end point with its own curve code, which
differs from osu!'s (tokenization/slider_path.py) in small ways that matter for exact token parity:
- Bezier pieces (split at doubled points; linear sliders are one piece per pair of points) are
  measured with 50 evenly spaced samples, and the last piece is evaluated at parameter
  required / measured length, so a path that is too short is continued along the polynomial
  rather than in a straight line;
- a perfect-circle arc is shortened to the pixel length but never lengthened (its radius taken
  as sqrt(x² + y²), bit for bit);
- a Catmull slider ends on its last control point.
Positions the model writes are decoded and fitted with osu!'s geometry; only the tokenizer's
SLIDER_END position uses this.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math

import numpy as np

from tokenization.beatmap import CurveType, Slider

LENGTH_SAMPLES = 50
_SAMPLE_T = np.linspace(0.0, 1.0, LENGTH_SAMPLES)


@functools.lru_cache(maxsize=64)
def _weights(degree: int) -> np.ndarray:
    return np.array([math.comb(degree, i) for i in range(degree + 1)], dtype=np.float64)


def _bezier_at(coordinates: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points of the Bezier curve with control points `coordinates` ([2, degree + 1]) at parameters t.

    The arithmetic is elementwise in the training code's order (weight * (1-t)^(n-k) * t^k, times
    each coordinate, summed over k) rather than a matrix product, whose different summation order
    moves results by an ulp: enough to flip a truncated pixel (123.99999 vs 124)."""
    degree = coordinates.shape[1] - 1
    return (_basis(degree, np.asarray(t, dtype=np.float64).reshape(-1, 1))[:, np.newaxis] * coordinates).sum(axis=-1)


def _basis(degree: int, t: np.ndarray) -> np.ndarray:
    """Bernstein weights [len(t), degree + 1], each term in the training code's order."""
    k = np.arange(degree + 1)
    return _weights(degree) * (1 - t) ** (degree - k) * t ** k


@functools.lru_cache(maxsize=64)
def _sample_basis(degree: int) -> np.ndarray:
    """The weights at the 50 measuring parameters: the same numbers every piece of that degree uses."""
    basis = _basis(degree, _SAMPLE_T.reshape(-1, 1))
    basis.flags.writeable = False
    return basis


def _measured_lengths(pieces: list[np.ndarray]) -> list[float]:
    """Length of each piece measured as 49 chords between 50 evenly spaced parameters (straight pieces
    too: the float error of the sampled measure is part of what the models saw).

    Pieces of one degree are measured together (one array [pieces, 50, 2, degree + 1]); every
    reduction runs over the same contiguous axis and length as for a single piece, so each length is
    bit for bit the one a piece measured alone gets."""
    lengths = [0.0] * len(pieces)
    by_degree: dict[int, list[int]] = {}
    for index, piece in enumerate(pieces):
        by_degree.setdefault(piece.shape[1] - 1, []).append(index)
    for degree, indices in by_degree.items():
        coordinates = np.stack([pieces[i] for i in indices])  # [P, 2, degree + 1]
        samples = (_sample_basis(degree)[np.newaxis, :, np.newaxis] * coordinates[:, np.newaxis]).sum(axis=-1)
        chords = np.sqrt(np.square(np.diff(samples, axis=1)).sum(axis=-1))  # [P, 49]
        for i, length in zip(indices, chords.sum(axis=-1)):
            lengths[i] = length
    return lengths


def _measured_length(coordinates: np.ndarray) -> float:
    return _measured_lengths([coordinates])[0]


def _pieces_end(pieces: list[np.ndarray], required: float) -> tuple[float, float]:
    """The point at parameter 1 of a chain of Bezier pieces cut to `required` pixels.

    Each piece spans a share of the parameter range proportional to its measured length; the last
    piece is evaluated at required-remainder / its length (so a short path continues along the
    polynomial). When the last piece measures 0 the parameter falls on an earlier piece's end."""
    lengths = _measured_lengths(pieces)
    total = sum(lengths)
    last_required = max(0, lengths[-1] - (total - required))
    if len(pieces) == 1:
        index, local_t = 0, 1.0
    else:
        bounds = [running / total for running in itertools.accumulate(lengths[:-1])] + [1]
        index = bisect.bisect_left(bounds, 1)
        before = bounds[index - 1] if index else 0
        local_t = (1 - before) / (bounds[index] - before)
    piece_required = last_required if index == len(pieces) - 1 else lengths[index]
    if lengths[index] == 0:
        return float(pieces[index][0][-1]), float(pieces[index][1][-1])
    end = _bezier_at(pieces[index], np.array([local_t * (piece_required / lengths[index])]))[0]
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
    points = tuple((p.x, p.y) for p in slider.path)
    if slider.length == 0 or any(x == 0 or y == 0 for x, y in points):
        # -0.0 and 0.0 are one cache key, yet atan2 tells them apart: such sliders are not cached
        return _end_position.__wrapped__(slider.curve_type, points, slider.length)
    return _end_position(slider.curve_type, points, slider.length)


@functools.lru_cache(maxsize=4096)
def _end_position(kind: CurveType, points: tuple[tuple[float, float], ...], required: float) -> tuple[float, float]:
    """Cached by geometry: each slider is encoded once per context and tokenizer, often several times."""
    points = list(points)
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
    return _pieces_end([np.array(p, dtype=np.float64).T for p in pieces], required)


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
    # the radius as sqrt(x² + y²), not hypot: they differ in the last bit now and then, and an arc
    # whose pixel length is its own length then ends 1e-13 px to the other side of a pixel
    length = abs(angle * math.sqrt(rel[0][0] ** 2 + rel[0][1] ** 2))
    if length > required:
        angle *= required / length
    x, y = rel[0]
    return (x * math.cos(angle) - y * math.sin(angle) + cx, x * math.sin(angle) + y * math.cos(angle) + cy)
