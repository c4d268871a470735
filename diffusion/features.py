"""osu! standard objects as the diffusion model's datapoints, and back.

One datapoint per circle, spinner start and end, slider head, slider control point (anchors get
times spread over the first span; the last anchor sits at the end of the first span) and slider
end, each with a type from a 16-way one-hot. The model's context per datapoint is the time, the
distance to the previous datapoint and the type; its class vector says what map it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from tokenization.beatmap import Beatmap, Circle, CurveType, HitObject, PathPoint, Slider, Spinner

PLAYFIELD = np.array([512.0, 384.0])
CENTRE = (256.0, 192.0)
TYPE_COUNT = 16
CIRCLE, CIRCLE_NC, SPINNER, SPINNER_END, HEAD, HEAD_NC = 0, 1, 2, 3, 4, 5
ANCHOR_TYPES = {CurveType.BEZIER: 6, CurveType.PERFECT: 7, CurveType.CATMULL: 8}
RED_ANCHOR, LAST_ANCHOR = 9, 10
EMBED_SIZE = 128  # sinusoid size of the time and the distance
CONTEXT_SIZE = 2 * EMBED_SIZE + TYPE_COUNT
DIFFICULTY_BINS, CS_BINS = 25, 21  # plus one "unknown" slot each


def end_type(slides: int) -> int:
    if slides <= 3:
        return 10 + slides
    return 14 if slides % 2 == 0 else 15


@dataclass
class SliderRows:
    """Where one slider's pieces sit in the datapoint arrays, for length guidance and write-back."""

    obj: Slider
    head: int
    anchors: list[tuple[int, bool]]  # (row, is a red anchor)
    last: int
    end: int
    length: float  # the pixel length the slider must keep


@dataclass
class Datapoints:
    xy: np.ndarray  # [N, 2] osu! pixels
    time: np.ndarray  # [N] ms
    kind: np.ndarray  # [N] type index
    distance: np.ndarray  # [N] px from the previous datapoint (the first from the centre)
    owners: list[HitObject] = field(default_factory=list)  # the object each row belongs to
    sliders: list[SliderRows] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.time)


def max_control_points(length: float) -> int:
    """Sliders with more control points than this are too detailed to refine point by point."""
    return max(16, min(128, int(length * 0.5)))


def beatmap_datapoints(beatmap: Beatmap) -> Datapoints:
    rows: list[tuple[float, float, float, int]] = []
    owners: list[HitObject] = []
    sliders: list[SliderRows] = []

    def add(x, y, t, kind, owner) -> int:
        rows.append((float(x), float(y), float(t), kind))
        owners.append(owner)
        return len(rows) - 1

    for obj in sorted(beatmap.hit_objects, key=lambda o: o.time):
        if isinstance(obj, Spinner):
            add(*CENTRE, obj.time, SPINNER, obj)
            add(*CENTRE, obj.end_time, SPINNER_END, obj)
        elif isinstance(obj, Slider) and len(obj.path) >= 2 and len(obj.path) < max_control_points(obj.length):
            sliders.append(_slider_rows(obj, add))
        elif isinstance(obj, (Circle, Slider)):  # a very detailed slider moves as a whole, like a circle
            add(obj.x, obj.y, obj.time, CIRCLE_NC if obj.new_combo else CIRCLE, obj)
    if not rows:
        empty = np.zeros((0, 2))
        return Datapoints(empty, np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0))
    data = np.array([r[:3] for r in rows], dtype=np.float64)
    xy = data[:, :2]
    previous = np.vstack([CENTRE, xy[:-1]])
    return Datapoints(xy.copy(), data[:, 2].copy(), np.array([r[3] for r in rows], dtype=np.int64),
                      np.linalg.norm(xy - previous, axis=1), owners, sliders)


def _slider_rows(obj: Slider, add) -> SliderRows:
    span = (obj.duration or 0.0) / max(obj.slides, 1)
    head = add(obj.x, obj.y, obj.time, HEAD_NC if obj.new_combo else HEAD, obj)
    points = obj.path[1:]
    inner = points[:-1]
    anchor_kind = ANCHOR_TYPES.get(obj.curve_type, RED_ANCHOR)
    anchors: list[tuple[int, bool]] = []
    i = 0
    while i < len(inner):
        point = inner[i]
        doubled = i + 1 < len(inner) and (inner[i + 1].x, inner[i + 1].y) == (point.x, point.y)
        red = doubled or obj.curve_type is CurveType.LINEAR
        t = obj.time + span * (i + 1) / (len(inner) + 1)
        anchors.append((add(point.x, point.y, t, RED_ANCHOR if red else anchor_kind, obj), red))
        i += 2 if doubled else 1
    last = add(points[-1].x, points[-1].y, obj.time + span, LAST_ANCHOR, obj)
    from tokenization.slider_path import SliderPath

    tail = SliderPath.of(obj).end_position()
    end = add(tail[0], tail[1], obj.end_time, end_type(obj.slides), obj)
    return SliderRows(obj, head, anchors, last, end, obj.length)


def slider_control_points(rows: SliderRows, xy: np.ndarray) -> list[PathPoint]:
    """The slider's path rebuilt from (possibly moved) datapoint positions."""
    curve = rows.obj.curve_type
    points = [PathPoint(float(xy[rows.head, 0]), float(xy[rows.head, 1]), curve)]
    for row, red in rows.anchors:
        point = PathPoint(float(xy[row, 0]), float(xy[row, 1]))
        points.append(point)
        if red and curve is not CurveType.LINEAR:
            points.append(PathPoint(point.x, point.y))
    points.append(PathPoint(float(xy[rows.last, 0]), float(xy[rows.last, 1])))
    return points


def write_back(points: Datapoints, xy: np.ndarray) -> None:
    """Move the objects to the refined positions `xy` [N, 2] (px), in place."""
    moved_sliders = {id(rows.obj) for rows in points.sliders}
    for row, owner in enumerate(points.owners):
        if isinstance(owner, Circle) or (isinstance(owner, Slider) and id(owner) not in moved_sliders):
            dx, dy = xy[row, 0] - owner.x, xy[row, 1] - owner.y
            owner.x, owner.y = float(xy[row, 0]), float(xy[row, 1])
            if isinstance(owner, Slider):  # moved as a whole
                owner.path = [PathPoint(p.x + dx, p.y + dy, p.type) for p in owner.path]
    for rows in points.sliders:
        rows.obj.x, rows.obj.y = float(xy[rows.head, 0]), float(xy[rows.head, 1])
        rows.obj.path = slider_control_points(rows, xy)


# -- model inputs --------------------------------------------------------------------------------
def context_features(points: Datapoints) -> torch.Tensor:
    """[N, CONTEXT_SIZE]: sinusoids of time (10 ms units) and distance, and the type one-hot."""
    from diffusion.model import sinusoids

    time = torch.as_tensor(points.time * 0.1, dtype=torch.float32)
    distance = torch.as_tensor(points.distance, dtype=torch.float32)
    kinds = torch.nn.functional.one_hot(torch.as_tensor(points.kind), TYPE_COUNT).float()
    return torch.cat([sinusoids(time, EMBED_SIZE), sinusoids(distance, EMBED_SIZE), kinds], dim=-1)


def normalise(xy: np.ndarray) -> np.ndarray:
    return xy / PLAYFIELD * 2 - 1


def denormalise(x: np.ndarray) -> np.ndarray:
    return (x + 1) / 2 * PLAYFIELD


@dataclass
class ClassVocabulary:
    """The slots of the multi-hot class vector: difficulty bins, mappers, descriptors, CS bins,
    each group with a final "unknown" slot."""

    mappers: list[int] = field(default_factory=list)
    descriptors: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return (DIFFICULTY_BINS + 1) + (len(self.mappers) + 1) + (len(self.descriptors) + 1) + (CS_BINS + 1)

    def vector(self, stars: float | None = None, mapper: int | None = None, descriptors: list[str] = (),
               circle_size: float | None = None) -> np.ndarray:
        v = np.zeros(self.size, dtype=np.float32)
        base = 0
        v[base + (min(max(int(stars * 2), 0), DIFFICULTY_BINS - 1) if stars is not None and math.isfinite(stars)
                  else DIFFICULTY_BINS)] = 1
        base += DIFFICULTY_BINS + 1
        v[base + (self.mappers.index(mapper) if mapper in self.mappers else len(self.mappers))] = 1
        base += len(self.mappers) + 1
        known = [self.descriptors.index(d) for d in descriptors if d in self.descriptors]
        for index in known or [len(self.descriptors)]:
            v[base + index] = 1
        base += len(self.descriptors) + 1
        v[base + (min(max(int(circle_size * 2), 0), CS_BINS - 1) if circle_size is not None else CS_BINS)] = 1
        return v

    def to_json(self) -> dict:
        return {"mappers": self.mappers, "descriptors": self.descriptors,
                "layout": ["difficulty", DIFFICULTY_BINS + 1, "mapper", len(self.mappers) + 1,
                           "descriptor", len(self.descriptors) + 1, "cs", CS_BINS + 1]}

    @classmethod
    def from_json(cls, data: dict) -> ClassVocabulary:
        return cls(list(data.get("mappers", [])), list(data.get("descriptors", [])))
