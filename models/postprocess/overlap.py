"""Near-perfect overlap snapping: generated positions come from a 32 px grid plus a refinement
offset (or from diffusion), so an object meant to sit exactly on an earlier one (a stack, a
slider ending where the next circle starts) often lands a pixel or two away. Such near misses
look like mistakes in the editor, so they are moved onto the earlier point."""

from __future__ import annotations

import math

from tokenization.beatmap import Circle, HitObject, PathPoint, Slider

SNAP_DISTANCE_PX = 3.8  # closer than this counts as meant to overlap
SNAP_WINDOW_MS = 1000.0  # only points this recent are candidates


def snap_near_overlaps(objects: list[HitObject]) -> int:
    """Move circle, slider head, red anchor and slider end positions onto an earlier such point
    within SNAP_WINDOW_MS that is under SNAP_DISTANCE_PX away. Objects are changed in place and
    must be in time order; returns how many points moved."""
    seen: list[tuple[float, float, float]] = []  # (time, x, y) of earlier key points
    moved = 0

    def snap(time: float, x: float, y: float) -> tuple[float, float]:
        nonlocal moved
        for t, sx, sy in reversed(seen):
            if time - t > SNAP_WINDOW_MS:
                break
            if (sx, sy) != (x, y) and math.hypot(sx - x, sy - y) < SNAP_DISTANCE_PX:
                moved += 1
                return sx, sy
        return x, y

    for obj in objects:
        if isinstance(obj, Circle):
            obj.x, obj.y = snap(obj.time, obj.x, obj.y)
            seen.append((obj.time, obj.x, obj.y))
        elif isinstance(obj, Slider) and obj.path:
            head = snap(obj.time, obj.x, obj.y)
            dx, dy = head[0] - obj.x, head[1] - obj.y
            obj.x, obj.y = head
            obj.path[0] = PathPoint(obj.path[0].x + dx, obj.path[0].y + dy, obj.path[0].type)
            seen.append((obj.time, *head))
            for index in _key_points(obj.path):
                point = obj.path[index]
                x, y = snap(obj.time, point.x, point.y)
                _move_point(obj.path, index, x, y)
                seen.append((obj.time, x, y))
            if obj.duration:
                seen.append((obj.time + obj.duration, obj.path[-1].x, obj.path[-1].y))
        seen.sort(key=lambda p: p[0])
    return moved


def _key_points(path: list[PathPoint]) -> list[int]:
    """Indices of the red anchors (each written as a doubled point; the first of the pair) and the last point."""
    indices = [i for i in range(1, len(path) - 1) if (path[i].x, path[i].y) == (path[i + 1].x, path[i + 1].y)]
    if len(path) > 1:
        indices.append(len(path) - 1)
    return indices


def _move_point(path: list[PathPoint], index: int, x: float, y: float) -> None:
    old = path[index]
    path[index] = PathPoint(x, y, old.type)
    if index + 1 < len(path) and (path[index + 1].x, path[index + 1].y) == (old.x, old.y):
        path[index + 1] = PathPoint(x, y, path[index + 1].type)
