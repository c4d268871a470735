"""Where an object lies on the osu! playfield and how it moves: the geometry the layouts share
(`models.postprocess.star_fit`, `models.postprocess.layout`)."""

from __future__ import annotations

from tokenization.beatmap import Slider

PLAYFIELD = (512.0, 384.0)


def circle_radius(circle_size: float) -> float:
    """A hit circle's radius in osu! px at `circle_size`, as the game draws circles."""
    return 54.4 - 4.48 * circle_size


def inside_shift(obj, start: tuple[float, float], step: tuple[float, float]) -> tuple[float, float]:
    """How far to move `obj` so that its head is `step` from `start`, the step mirrored (then clamped)
    so that the whole object stays on the playfield."""
    for sx, sy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        head = (start[0] + sx * step[0], start[1] + sy * step[1])
        shift = (head[0] - obj.x, head[1] - obj.y)
        if fits(obj, shift):
            return shift
    low_x, high_x, low_y, high_y = extent(obj)
    margin = edge_margin(obj)
    head = (start[0] + step[0], start[1] + step[1])
    dx = min(max(head[0] - obj.x, margin - low_x), PLAYFIELD[0] - margin - high_x)
    dy = min(max(head[1] - obj.y, margin - low_y), PLAYFIELD[1] - margin - high_y)
    return dx, dy


def extent(obj) -> tuple[float, float, float, float]:
    """(lowest x, highest x, lowest y, highest y) of the object, a slider's control points included."""
    points = [(p.x, p.y) for p in obj.path] if isinstance(obj, Slider) and obj.path else [(obj.x, obj.y)]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), max(xs), min(ys), max(ys)


def fits(obj, shift: tuple[float, float]) -> bool:
    """Whether `obj` moved by `shift` lies on the playfield, a slider's path a pixel inside its edges (osu!
    draws a slider to its length, a fraction of a pixel past a rounded end point)."""
    low_x, high_x, low_y, high_y = extent(obj)
    margin = edge_margin(obj)
    return (margin <= low_x + shift[0] and high_x + shift[0] <= PLAYFIELD[0] - margin
            and margin <= low_y + shift[1] and high_y + shift[1] <= PLAYFIELD[1] - margin)


def edge_margin(obj) -> float:
    """How far inside the playfield's edges `obj` must stay (see `fits`)."""
    return 1.0 if isinstance(obj, Slider) else 0.0


def translate(obj, shift: tuple[float, float]) -> None:
    """Move `obj` (in place) by `shift`, a slider with its whole path, to whole pixels."""
    dx, dy = shift
    obj.x, obj.y = round(obj.x + dx), round(obj.y + dy)
    if isinstance(obj, Slider):
        for point in obj.path:
            point.x, point.y = round(point.x + dx), round(point.y + dy)
        if obj.path:
            obj.path[0].x, obj.path[0].y = obj.x, obj.y


def end_point(obj) -> tuple[float, float]:
    """Where an object ends (a slider: its path's last point after an odd number of slides)."""
    if isinstance(obj, Slider) and obj.path and obj.slides % 2 == 1:
        return obj.path[-1].x, obj.path[-1].y
    return obj.x, obj.y
