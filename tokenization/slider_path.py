"""Slider geometry as osu! computes it: curve approximation, length fitting and positions.

A slider's control points split into segments (at points that carry a curve type, and in stable
files at doubled "red" anchors). Each segment is approximated by a polyline: Bezier by adaptive
subdivision (0.25 px tolerance), perfect circles by arc sampling (0.1 px), Catmull-Rom with 50
points per span, linear as is. The polyline is then cut to the slider's pixel length, or
extended in a straight line along its last piece, exactly as osu!lazer's SliderPath does.

Over 300 lines: the four curve approximations and the length fitting are one algorithm (lazer's
PathApproximator and SliderPath) whose pieces share tolerances and edge cases; kept in one file so
it can be read beside lazer's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tokenization.beatmap import CurveType, PathPoint, Slider

BEZIER_TOLERANCE_PX = 0.25
CIRCLE_TOLERANCE_PX = 0.1
CATMULL_DETAIL = 50  # points per Catmull span
MAX_BEZIER_DEPTH = 24
MAX_ARC_POINTS = 1000  # beyond this an "arc" is practically a line: approximate it as a Bezier
# Work budgets that real sliders never reach (a curve of a few hundred pixels needs tens of pieces):
# without them a curve with points 2e9 px apart, or thousands of control points, runs for minutes.
MAX_BEZIER_SPLITS = 10_000  # per segment
MAX_BEZIER_WORK = 2_000_000  # splits x control points squared, per segment (a split costs n^2)
MAX_BEZIER_CONTROL_POINTS = 200  # per segment (the corpus peaks at 26); longer ones are taken as drawn
MAX_SPLINE_SAMPLES = 3000
MAX_SPLINE_WORK = 50_000  # samples x degree squared (each sample runs de Boor's triangle)
MAX_CATMULL_POINTS = 1000  # per segment; each span costs a numpy evaluation
MAX_SPLINE_DEGREE = 16  # lazer maps use 3-5; higher degrees are drawn as the Bezier they tend to


@dataclass(frozen=True)
class Segment:
    kind: CurveType
    points: np.ndarray  # [n, 2] control points; the last one is the next segment's first
    degree: int | None = None  # lazer's B-spline degree


def path_segments(points: list[PathPoint]) -> list[Segment]:
    """Split control points into segments at typed points and (stable) doubled red anchors."""
    if not points:
        return []
    head = points[0]
    open_segments: list[tuple[CurveType, int | None, list[tuple[float, float]]]] = [
        (head.type or CurveType.BEZIER, head.degree, [(head.x, head.y)])]
    for index in range(1, len(points)):
        point = points[index]
        xy = (point.x, point.y)
        kind, degree, current = open_segments[-1]
        if xy == current[-1] and kind not in (CurveType.CATMULL, CurveType.PERFECT):
            open_segments.append((kind, degree, [xy]))  # a doubled point starts a new segment of the same type
            continue
        current.append(xy)
        if point.type is not None and index < len(points) - 1:
            open_segments.append((point.type, point.degree, [xy]))
    segments = []
    for kind, degree, pts in open_segments:
        if len(pts) < 2:
            continue
        if kind is CurveType.PERFECT and len(pts) != 3:
            kind = CurveType.BEZIER  # stable: a "perfect" curve needs exactly three points
        segments.append(Segment(kind, np.asarray(pts, dtype=np.float64), degree))
    return segments


def approximate(kind: CurveType, pts: np.ndarray, degree: int | None = None) -> np.ndarray:
    if kind is CurveType.LINEAR or len(pts) < 3 and kind is not CurveType.CATMULL:
        return pts
    if kind is CurveType.PERFECT:
        arc = _circular_arc(pts)
        return arc if arc is not None else _bezier(pts)
    if kind is CurveType.CATMULL:
        return _catmull(pts) if len(pts) <= MAX_CATMULL_POINTS else pts
    if degree is not None and 1 <= degree < len(pts) - 1 and degree <= MAX_SPLINE_DEGREE:
        return _b_spline(pts, degree)
    if len(pts) > MAX_BEZIER_CONTROL_POINTS:  # subdividing costs n^2 per step: minutes for 20,000 points
        return pts
    return _bezier(pts)


def _bezier(control: np.ndarray) -> np.ndarray:
    """Adaptive de Casteljau subdivision until each piece is flat within the tolerance.

    Pure Python on coordinate lists: control polygons are a handful of points, where numpy's
    per-call overhead would dominate.
    """
    pts = [(float(x), float(y)) for x, y in control]
    output = [pts[0]]
    stack = [(pts, 0)]
    limit = 4 * BEZIER_TOLERANCE_PX ** 2
    splits_left = max(1, min(MAX_BEZIER_SPLITS, MAX_BEZIER_WORK // len(pts) ** 2))
    while stack:
        piece, depth = stack.pop()
        if depth >= MAX_BEZIER_DEPTH or splits_left <= 0 or _is_flat(piece, limit):
            output.extend(_flat_points(piece))
            continue
        splits_left -= 1
        left, right = _split(piece)
        stack.append((right, depth + 1))
        stack.append((left, depth + 1))
    return np.asarray(output)


def _is_flat(pts: list[tuple[float, float]], limit: float) -> bool:
    for (ax, ay), (bx, by), (cx, cy) in zip(pts, pts[1:], pts[2:]):
        dx, dy = ax - 2 * bx + cx, ay - 2 * by + cy
        if dx * dx + dy * dy > limit:
            return False
    return True


def _split(pts: list[tuple[float, float]]) -> tuple[list, list]:
    """The two halves of a Bezier curve, each with as many control points as the whole."""
    left, right = [pts[0]], [pts[-1]]
    work = pts
    while len(work) > 1:
        work = [((ax + bx) * 0.5, (ay + by) * 0.5) for (ax, ay), (bx, by) in zip(work, work[1:])]
        left.append(work[0])
        right.append(work[-1])
    right.reverse()
    return left, right


def _flat_points(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points along a flat enough piece: one more subdivision, smoothed (lazer's approximation)."""
    left, right = _split(pts)
    joined = left + right[1:]
    inner = [(0.25 * (joined[i - 1][0] + 2 * joined[i][0] + joined[i + 1][0]),
              0.25 * (joined[i - 1][1] + 2 * joined[i][1] + joined[i + 1][1])) for i in range(2, len(joined) - 1, 2)]
    return inner + [pts[-1]]


def _circular_arc(pts: np.ndarray) -> np.ndarray | None:
    a, b, c = pts
    d = 2 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]))
    if abs(d) < 1e-3:  # (nearly) collinear: no circle through the points
        return None
    a2, b2, c2 = a @ a, b @ b, c @ c
    centre = np.array([(a2 * (b[1] - c[1]) + b2 * (c[1] - a[1]) + c2 * (a[1] - b[1])) / d,
                       (a2 * (c[0] - b[0]) + b2 * (a[0] - c[0]) + c2 * (b[0] - a[0])) / d])
    radius = float(np.linalg.norm(a - centre))
    theta_start = math.atan2(a[1] - centre[1], a[0] - centre[0])
    theta_end = math.atan2(c[1] - centre[1], c[0] - centre[0])
    while theta_end < theta_start:
        theta_end += 2 * math.pi
    direction = 1.0
    theta_range = theta_end - theta_start
    # Going the short way round must pass through b; otherwise go the other way.
    ortho_ac = np.array([c[1] - a[1], -(c[0] - a[0])])
    if ortho_ac @ (b - a) < 0:
        direction = -1.0
        theta_range = 2 * math.pi - theta_range
    if 2 * radius <= CIRCLE_TOLERANCE_PX:
        count = 2
    else:
        step = 2 * math.acos(max(-1.0, 1 - CIRCLE_TOLERANCE_PX / radius))  # 0 for radii beyond float precision
        if step <= 0 or theta_range / step >= MAX_ARC_POINTS:
            return None
        count = max(2, math.ceil(theta_range / step))
    if count >= MAX_ARC_POINTS:
        return None
    theta = theta_start + direction * np.arange(count) / (count - 1) * theta_range
    return np.stack([centre[0] + radius * np.cos(theta), centre[1] + radius * np.sin(theta)], axis=1)


def _catmull(pts: np.ndarray) -> np.ndarray:
    out = []
    n = len(pts)
    t = np.arange(CATMULL_DETAIL) / CATMULL_DETAIL
    for i in range(n - 1):
        v1 = pts[i - 1] if i > 0 else pts[i]
        v2 = pts[i]
        v3 = pts[i + 1] if i < n - 1 else 2 * v2 - v1
        v4 = pts[i + 2] if i < n - 2 else 2 * v3 - v2
        span = _catmull_points(v1, v2, v3, v4, np.append(t, 1.0))
        out.append(span if not out else span[1:])
    return np.concatenate(out) if out else pts


def _catmull_points(v1, v2, v3, v4, t: np.ndarray) -> np.ndarray:
    t = t[:, None]
    return 0.5 * (2 * v2 + (-v1 + v3) * t + (2 * v1 - 5 * v2 + 4 * v3 - v4) * t ** 2
                  + (-v1 + 3 * v2 - 3 * v3 + v4) * t ** 3)


def _b_spline(pts: np.ndarray, degree: int) -> np.ndarray:
    """Clamped uniform B-spline of the given degree, sampled densely (lazer's `B<n>` curves)."""
    n = len(pts)
    knots = np.concatenate([np.zeros(degree), np.linspace(0, 1, n - degree + 1), np.ones(degree)])
    samples = np.linspace(0, 1, max(2, min((n - 1) * 30, MAX_SPLINE_SAMPLES, MAX_SPLINE_WORK // (degree + 1) ** 2)))
    out = []
    for u in samples:
        k = min(max(np.searchsorted(knots, u, side="right") - 1, degree), n - 1)
        d = [pts[j].copy() for j in range(k - degree, k + 1)]
        for r in range(1, degree + 1):
            for j in range(degree, r - 1, -1):
                i = j + k - degree
                denom = knots[i + degree + 1 - r] - knots[i]
                alpha = 0.0 if denom == 0 else (u - knots[i]) / denom
                d[j] = (1 - alpha) * d[j - 1] + alpha * d[j]
        out.append(d[degree])
    return np.asarray(out)


@dataclass
class SliderPath:
    """The polyline of a slider, fitted to its pixel length."""

    points: np.ndarray  # [n, 2]
    cumulative: np.ndarray  # [n] distance from the head

    @classmethod
    def from_points(cls, control: list[PathPoint], expected_length: float | None = None) -> SliderPath:
        pieces = []
        for segment in path_segments(control):
            piece = approximate(segment.kind, segment.points, segment.degree)
            pieces.append(piece if not pieces else piece[1:])
        if not pieces:
            head = np.array([[control[0].x, control[0].y]]) if control else np.zeros((1, 2))
            return cls(head, np.zeros(1))
        polyline = np.concatenate(pieces)
        return cls._fitted(polyline, expected_length)

    @classmethod
    def of(cls, slider: Slider) -> SliderPath:
        return cls.from_points(slider.path, slider.length)

    @classmethod
    def _fitted(cls, polyline: np.ndarray, expected: float | None) -> SliderPath:
        steps = np.linalg.norm(np.diff(polyline, axis=0), axis=1)
        cumulative = np.concatenate([[0.0], np.cumsum(steps)])
        total = float(cumulative[-1])
        if expected is None or expected <= 0 or math.isclose(total, expected, abs_tol=1e-9):
            return cls(polyline, cumulative)
        if expected > total and len(polyline) >= 2 and np.array_equal(polyline[-1], polyline[-2]):
            return cls(polyline, cumulative)  # stable does not extend a path that ends on a doubled point
        points, lengths = list(polyline), list(cumulative)
        lengths.pop()
        end = len(points) - 1
        if total > expected:
            while lengths and lengths[-1] >= expected:
                lengths.pop()
                points.pop()
                end -= 1
        if end <= 0:
            return cls(np.asarray(points[:1]), np.zeros(1))
        direction = points[end] - points[end - 1]
        norm = float(np.linalg.norm(direction))
        direction = direction / norm if norm > 0 else direction
        points[end] = points[end - 1] + direction * (expected - lengths[-1])
        lengths.append(expected)
        return cls(np.asarray(points[: end + 1]), np.asarray(lengths))

    @property
    def distance(self) -> float:
        return float(self.cumulative[-1])

    def position_at(self, progress: float | np.ndarray) -> np.ndarray:
        """Point at `progress` (0 = head, 1 = end) of one pass; vectorised over progress."""
        progress = np.clip(np.asarray(progress, dtype=np.float64), 0.0, 1.0)
        if len(self.points) == 1 or self.distance == 0:
            return np.broadcast_to(self.points[0], progress.shape + (2,)).copy()
        d = progress * self.distance
        index = np.clip(np.searchsorted(self.cumulative, d, side="left"), 1, len(self.points) - 1)
        d0, d1 = self.cumulative[index - 1], self.cumulative[index]
        span = np.where(d1 > d0, d1 - d0, 1.0)
        w = ((d - d0) / span)[..., None]
        return self.points[index - 1] + w * (self.points[index] - self.points[index - 1])

    def length_to(self, point: tuple[float, float]) -> float:
        """Distance along the path (continued straight past its end) to the point nearest `point`."""
        q = np.asarray(point, dtype=np.float64)
        if len(self.points) < 2 or self.distance == 0:
            return float(np.linalg.norm(q - self.points[0]))
        a, b = self.points[:-1], self.points[1:]
        ab = b - a
        seg_len2 = np.einsum("ij,ij->i", ab, ab)
        t = np.einsum("ij,ij->i", q - a, ab) / np.where(seg_len2 > 0, seg_len2, 1.0)
        t[:-1] = np.clip(t[:-1], 0.0, 1.0)
        t[-1] = max(t[-1], 0.0)  # the last piece may be extended
        nearest = a + t[:, None] * ab
        best = int(np.argmin(np.linalg.norm(nearest - q, axis=1)))
        return float(self.cumulative[best] + t[best] * np.sqrt(seg_len2[best]))

    def end_position(self) -> np.ndarray:
        return self.points[-1].copy()


def slider_end_position(slider: Slider) -> tuple[float, float]:
    """Where the slider ends: the path's end after an odd number of passes, the head otherwise."""
    path = SliderPath.of(slider)
    point = path.end_position() if slider.slides % 2 == 1 else path.points[0]
    return float(point[0]), float(point[1])


def position_at_time(slider: Slider, time: float) -> tuple[float, float]:
    """Ball position at `time` (ms), with passes alternating direction."""
    duration = slider.duration or 0.0
    if duration <= 0:
        return slider.x, slider.y
    span = duration / slider.slides
    elapsed = min(max(time - slider.time, 0.0), duration)
    index = min(int(elapsed // span), slider.slides - 1)
    progress = (elapsed - index * span) / span
    if index % 2 == 1:
        progress = 1.0 - progress
    x, y = SliderPath.of(slider).position_at(progress)
    return float(x), float(y)


def span_times(slider: Slider) -> list[float]:
    """Times at which each pass ends (repeats, then the tail)."""
    span = (slider.duration or 0.0) / slider.slides
    return [slider.time + span * (i + 1) for i in range(slider.slides)]


def tick_times(slider: Slider, beat_length: float, tick_rate: float, slider_velocity: float = 1.0,
               min_gap_ms: float = 10.0) -> list[float]:
    """Slider tick times (osu!): every beat/tick_rate along each pass, none too close to an edge.

    The tick spacing is measured in distance along the path, so it scales with SV as in osu!.
    """
    duration = slider.duration or 0.0
    if duration <= 0 or tick_rate <= 0 or beat_length <= 0:
        return []
    span = duration / slider.slides
    px_per_ms = slider.length / span if span > 0 else 0.0
    tick_distance = px_per_ms * beat_length / tick_rate
    if tick_distance <= 0 or slider.length / tick_distance > 10_000:
        return []
    ticks = []
    for index in range(slider.slides):
        start = slider.time + index * span
        d = tick_distance
        offsets = []
        while d < slider.length - px_per_ms * min_gap_ms:
            offsets.append(d / px_per_ms)
            d += tick_distance
        if index % 2 == 1:
            offsets = [span - o for o in reversed(offsets)]
        ticks.extend(start + o for o in offsets)
    return ticks
