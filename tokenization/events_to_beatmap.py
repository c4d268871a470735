"""Events back to hit objects: the inverse of beatmap_to_events, tolerant of malformed streams.

Input events carry absolute times (TIME_SHIFT values in ms). Events are cut into groups at type
tokens (a group ends with its type token when types come last, and starts with it when types come
first); each group's fields are read, then groups become objects. A model can write anything, so
a group that cannot become part of an object (an anchor with no slider open, an end with no start
or no time) is dropped and counted, never an exception. Where the published models' own reader
decides a malformed case, this one decides it alike: fields before the first type token belong to
it, an object start without a time shift is at 0 ms, and a group's first hitsound is its sound.

Over 300 lines: grouping and the object builder are one state machine (open sliders, spinners and
mania holds across groups); splitting it would pass that state between files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tokenization.beatmap import (
    Circle,
    CurveType,
    EdgeSound,
    GameMode,
    HitObject,
    HitSample,
    HoldNote,
    PathPoint,
    Slider,
    Spinner,
)
from tokenization.events import TYPE_TOKENS, Event, EventType
from tokenization.settings import TokenizerSettings
from tokenization.slider_path import SliderPath

E = EventType
CENTRE = (256.0, 192.0)
BODY_VOLUME_DELAY_MS = 6  # after an edge sound, the slider body's own volume returns
OBJECT_STARTS = frozenset({E.CIRCLE, E.SLIDER_HEAD, E.SPINNER, E.HOLD_NOTE, E.DRUMROLL, E.DENDEN})
ANCHOR_CURVES = {E.BEZIER_ANCHOR: CurveType.BEZIER, E.PERFECT_ANCHOR: CurveType.PERFECT,
                 E.CATMULL_ANCHOR: CurveType.CATMULL, E.RED_ANCHOR: CurveType.BEZIER}


@dataclass
class Group:
    type: EventType
    value: int = 0
    time: float | None = None
    snap: int | None = None
    distance: int | None = None
    x: float | None = None
    y: float | None = None
    column: int | None = None
    new_combo: bool = False
    scroll_speed: int | None = None
    sounds: list[tuple[int, int]] = field(default_factory=list)  # (hitsound value, volume)
    volumes: list[int] = field(default_factory=list)  # every volume token, in order

    @property
    def position(self) -> tuple[float, float] | None:
        return (self.x, self.y) if self.x is not None and self.y is not None else None


def group_events(events: list[Event], settings: TokenizerSettings) -> tuple[list[Group], int]:
    """Groups and the number of stray events that belonged to none."""
    groups: list[Group] = []
    pending: list[Event] = []
    stray = 0

    def close(type_event: Event, fields: list[Event]) -> Group:
        group = Group(type_event.type, type_event.value)
        _fill(group, fields, settings)
        return group

    if settings.types_first:
        # fields before the first type token belong to it, as in the published models' reader
        current: Event | None = None
        for event in events:
            if event.type in TYPE_TOKENS:
                if current is not None:
                    groups.append(close(current, pending))
                    pending = []
                current = event
            else:
                pending.append(event)
        if current is not None:
            groups.append(close(current, pending))
        elif pending:
            stray += len(pending)
    else:
        for event in events:
            if event.type in TYPE_TOKENS:
                groups.append(close(event, pending))
                pending = []
            else:
                pending.append(event)
        stray += len(pending)  # an unfinished group at the end
    return groups, stray


def _fill(group: Group, fields: list[Event], s: TokenizerSettings) -> None:
    x_min, _, y_min, _ = s.position_range
    p = s.position_precision
    cells_per_row = int((s.position_range[1] - x_min) / p + 1)
    hitsounds: list[int] = []
    volumes: list[int] = []
    refine: int | None = None
    cell: int | None = None
    for event in fields:
        kind, value = event.type, event.value
        if kind is E.TIME_SHIFT:
            group.time = float(value)
        elif kind is E.SNAPPING:
            group.snap = value
        elif kind is E.DISTANCE:
            group.distance = value
        elif kind is E.POS_X:
            group.x = float(value * p)
        elif kind is E.POS_Y:
            group.y = float(value * p)
        elif kind is E.POS:
            cell = value
        elif kind is E.POS_REFINE:
            refine = value
        elif kind is E.MANIA_COLUMN:
            group.column = value
        elif kind is E.NEW_COMBO:
            group.new_combo = True
        elif kind is E.SCROLL_SPEED:
            group.scroll_speed = value
        elif kind is E.HITSOUND:
            hitsounds.append(value)
        elif kind is E.VOLUME:
            volumes.append(value)
    # the n-th hitsound goes with the n-th volume, each read in order even when the other is missing
    group.sounds = [(h, volumes[i] if i < len(volumes) else 0) for i, h in enumerate(hitsounds)]
    group.volumes = volumes
    if cell is not None:
        cx = cell % cells_per_row + x_min / p
        cy = cell // cells_per_row + y_min / p
        if refine is not None and s.position_refinement:
            steps = p // s.position_refinement
            half = s.position_refinement / 2
            group.x = cx * p + (refine % steps) * s.position_refinement + half
            group.y = cy * p + (refine // steps) * s.position_refinement + half
        else:
            group.x, group.y = cx * p + p / 2, cy * p + p / 2  # the cell's centre


def decode_hitsound(value: int) -> tuple[int, int, int]:
    """(hitsound bits, sample set, addition set) of a HITSOUND value."""
    return (value % 8) * 2, (value // 8) % 3 + 1, (value // 24) % 3 + 1


@dataclass(frozen=True)
class SliderHint:
    """What the tokens said about a slider beyond its shape, for the postprocessor's length fitting."""

    scroll_speed: int | None  # SV x100 from the head, when the model writes it
    end_position: tuple[float, float]
    span_ms: float


@dataclass
class DecodeReport:
    objects: int = 0
    dropped_groups: int = 0
    stray_events: int = 0
    slider_hints: dict[int, SliderHint] = field(default_factory=dict)  # by id() of the slider
    scroll_speeds: dict[int, int] = field(default_factory=dict)  # SV x100 of taiko circles, by id() of the circle
    # What becomes timing points, each with `step`: the place in the stream of the group that
    # completes it, the order the published postprocessor edits the timing in.
    volume_changes: list[tuple[int, float, int]] = field(default_factory=list)  # (step, time, volume) outside mania
    kiai_changes: list[tuple[int, float, bool]] = field(default_factory=list)  # (step, time, on)
    speed_steps: list[tuple[int, float]] = field(default_factory=list)  # (step, time) of scroll-speed changes
    completed_at: dict[int, int] = field(default_factory=dict)  # step of each object, by id()

    @property
    def problems(self) -> int:
        return self.dropped_groups + self.stray_events


def events_to_objects(events: list[Event], settings: TokenizerSettings, *, mode: GameMode = GameMode.OSU,
                      key_count: int = 4, placer=None) -> tuple[list[HitObject], DecodeReport]:
    """Objects from events. `placer` (optional) positions groups that have only a distance
    (`models.postprocess.object_stream.DistancePlacer`); without one they take the last object's position."""
    groups, stray = group_events(events, settings)
    builder = _ObjectBuilder(mode, key_count)
    for group in groups:
        if placer is not None:
            position = placer.place(group.type, group.distance, group.position)
            if group.position is None and position is not None:
                group.x, group.y = position
        builder.add(group)
    builder.finish()
    report = DecodeReport(len(builder.objects), builder.dropped, stray, builder.hints, builder.scroll_speeds,
                          builder.volume_changes, builder.kiai_changes, builder.speed_steps,
                          {id(obj): step for obj, step in builder.completed})
    builder.objects.sort(key=lambda o: o.time)
    return builder.objects, report


class _ObjectBuilder:
    def __init__(self, mode: GameMode, key_count: int):
        self.mode = mode
        self.key_count = max(1, key_count)
        self.objects: list[HitObject] = []
        self.dropped = 0
        self.open: dict | None = None  # the spinner being built
        self.sliders: list[dict] = []  # open sliders, oldest first: slow sliders may overlap in time
        self.hints: dict[int, SliderHint] = {}
        self.scroll_speeds: dict[int, int] = {}
        self.volume_changes: list[tuple[int, float, int]] = []
        self.kiai_changes: list[tuple[int, float, bool]] = []
        self.speed_steps: list[tuple[int, float]] = []
        self.step = -1  # index of the group being read
        self.completed: list[tuple[HitObject, int]] = []
        self.open_holds: dict[int, Group] = {}  # mania holds by column: they overlap freely
        self.last_pos = CENTRE

    def add(self, g: Group) -> None:
        kind = g.type
        self.step += 1
        count = len(self.objects)
        if kind is E.KIAI:
            self.kiai_changes.append((self.step, g.time or 0.0, bool(g.value)))
        elif kind is E.SCROLL_SPEED_CHANGE:
            self.speed_steps.append((self.step, g.time or 0.0))
        else:
            self._add_object_part(g)
        self.completed += [(obj, self.step) for obj in self.objects[count:]]

    def _add_object_part(self, g: Group) -> None:
        kind = g.type
        if kind in (E.BEAT, E.MEASURE, E.TIMING_POINT) or kind.value.endswith("_sustain"):
            return  # timing and control events are handled by the postprocessor
        if kind in OBJECT_STARTS and g.time is None:
            g.time = 0.0  # an object with no time shift of its own: the published models' reader puts it at 0
        if kind in (E.SPINNER, E.DENDEN) and self.open:
            self.dropped += 1  # a new spinner started before the last one ended
            self.open = None
        if kind is E.CIRCLE:  # circles may sit inside a long object (and mania chords beside holds)
            self._circle(g)
        elif kind in (E.SLIDER_HEAD, E.DRUMROLL):
            self._start(g, "slider")
        elif kind in (E.SPINNER, E.DENDEN):
            self._start(g, "spinner")
        elif kind is E.HOLD_NOTE:
            self._start_hold(g)
        elif kind in ANCHOR_CURVES or kind is E.LAST_ANCHOR:
            self._anchor(g)
        elif kind in (E.SLIDER_END, E.DRUMROLL_END):
            self._end_slider(g)
        elif kind in (E.SPINNER_END, E.DENDEN_END):
            self._end_simple(g, "spinner")
        elif kind is E.HOLD_NOTE_END:
            self._end_hold(g)
        else:
            self.dropped += 1

    def finish(self) -> None:
        self.dropped += (self.open is not None) + len(self.open_holds) + len(self.sliders)
        self.open = None
        self.open_holds.clear()
        self.sliders.clear()

    def _start_hold(self, g: Group) -> None:
        if g.time is None:
            self.dropped += 1
            return
        column = g.column if g.column is not None else -1
        if column in self.open_holds:
            self.dropped += 1  # the column's previous hold never ended
        self.open_holds[column] = g

    def _end_hold(self, g: Group) -> None:
        column = g.column if g.column is not None else -1
        head = self.open_holds.pop(column, None)
        if head is None and len(self.open_holds) == 1 and g.column is None:
            head = self.open_holds.pop(next(iter(self.open_holds)))
        if head is None or g.time is None or g.time < head.time:
            self.dropped += 1
            return
        x, y = self._position(head)
        hitsound, sample = self._sample(head)
        self.objects.append(HoldNote(x, y, head.time, hitsound=hitsound, sample=sample, hold_end=g.time))

    # -- helpers -----------------------------------------------------------------------------
    def _position(self, g: Group) -> tuple[float, float]:
        if self.mode is GameMode.MANIA and g.column is not None:
            return float(int((g.column + 0.5) * 512 / self.key_count)), 192.0
        if self.mode is GameMode.TAIKO:
            return CENTRE
        pos = g.position
        return pos if pos is not None else self.last_pos

    def _sample(self, g: Group) -> tuple[int, HitSample]:
        if not g.sounds:
            return 0, HitSample()
        value, volume = g.sounds[0]
        bits, normal, addition = decode_hitsound(value)
        return bits, HitSample(normal, addition, 0, volume if self.mode is GameMode.MANIA else 0)

    def _circle(self, g: Group) -> None:
        if g.time is None:
            self.dropped += 1
            return
        x, y = self._position(g)
        hitsound, sample = self._sample(g)
        circle = Circle(x, y, g.time, new_combo=g.new_combo, hitsound=hitsound, sample=sample)
        if g.volumes and self.mode is not GameMode.MANIA:  # mania keeps the volume on the note itself
            self.volume_changes.append((self.step, _whole_ms(g.time), g.volumes[0]))
        if g.scroll_speed is not None:
            self.scroll_speeds[id(circle)] = g.scroll_speed
        self.objects.append(circle)
        self.last_pos = (x, y)

    def _start(self, g: Group, kind: str) -> None:
        if g.time is None:
            self.dropped += 1
            return
        state = {"kind": kind, "head": g, "pos": CENTRE if kind == "spinner" else self._position(g), "anchors": [],
                 "last": None, "span_end": None, "repeat_sounds": []}
        if kind == "slider":
            self.sliders.append(state)
            self.last_pos = state["pos"]
        else:
            self.open = state

    def _anchor(self, g: Group) -> None:
        # Anchors belong to the newest slider still drawing its first span; the timed last anchor
        # closes the first span of the oldest one.
        drawing = [state for state in self.sliders if state["span_end"] is None]
        if not drawing:
            self.dropped += 1
            return
        pos = g.position
        if g.type is E.LAST_ANCHOR:
            if g.time is None:  # slider version 2: the untimed last control point
                if pos is not None:
                    drawing[-1]["last"] = pos
                    self.last_pos = pos
                return
            state = drawing[0]
            if pos is not None:
                state["last"] = pos
                self.last_pos = pos
            state["span_end"] = g.time
            state["repeat_sounds"] = g.sounds
            state["last_volumes"] = g.volumes
            return
        if pos is None:
            self.dropped += 1
            return
        drawing[-1]["anchors"].append((g.type, pos))
        self.last_pos = pos

    def _end_slider(self, g: Group) -> None:
        ready = [state for state in self.sliders if state["span_end"] is not None] or self.sliders
        if not ready or g.time is None:
            self.dropped += 1
            return
        state = ready[0]
        self.sliders.remove(state)
        head: Group = state["head"]
        total = g.time - head.time
        if total < 0:
            self.dropped += 1
            return
        span = (state["span_end"] - head.time) if state["span_end"] is not None else total
        slides = max(round(total / span), 1) if span > 0 and total > 0 else 1
        end_pos = g.position or state["last"] or state["pos"]
        path = [PathPoint(*state["pos"], CurveType.BEZIER)]
        for anchor_type, pos in state["anchors"]:
            if anchor_type is E.RED_ANCHOR:
                path += [PathPoint(*pos), PathPoint(*pos)]
            else:
                path.append(PathPoint(*pos))
        if state["anchors"]:
            path[0].type = ANCHOR_CURVES[state["anchors"][0][0]]
        last = state["last"] or end_pos
        if (path[-1].x, path[-1].y) != last or len(path) == 1:
            path.append(PathPoint(*last))
        edges = [EdgeSound(*_edge(head.sounds[:1]))]
        repeat_sounds = state["repeat_sounds"][1:]  # the first pair is the body sound
        edges += [EdgeSound(*_edge([s])) for s in repeat_sounds[:slides - 1]]
        while len(edges) < slides:
            edges.append(EdgeSound())
        edges.append(EdgeSound(*_edge(g.sounds[:1])))
        body_bits, body_sample = self._sample(Group(E.LAST_ANCHOR, sounds=state["repeat_sounds"][:1]))
        slider = Slider(*state["pos"], head.time, new_combo=head.new_combo, hitsound=body_bits, sample=body_sample,
                        path=path, slides=slides, length=0.0, edge_sounds=edges, duration=total)
        slider.length = SliderPath.from_points(path).length_to(end_pos)
        self.hints[id(slider)] = SliderHint(head.scroll_speed, end_pos, span)
        self._slider_volumes(g, state, total / slides, slides)
        self.objects.append(slider)
        self.last_pos = end_pos

    def _end_simple(self, g: Group, kind: str) -> None:
        state, self.open = self.open, None
        if state is None or state["kind"] != kind or g.time is None or g.time < state["head"].time:
            self.dropped += 1
            return
        hitsound, sample = self._sample(g)
        self.objects.append(Spinner(256, 192, state["head"].time, new_combo=True, hitsound=hitsound, sample=sample,
                                    spinner_end=g.time))
        sounding = state["head"] if state["head"].type is E.DENDEN else g  # a spinner's sound is its end's
        if sounding.volumes:
            self.volume_changes.append((self.step, _whole_ms(sounding.time), sounding.volumes[0]))
        self.last_pos = CENTRE


    def _slider_volumes(self, end: Group, state: dict, span: float, slides: int) -> None:
        """Volumes at a slider's edges (a drumroll: its head's); where the body's differs, it is
        restored 6 ms after each edge but the last."""
        head: Group = state["head"]
        if head.type is E.DRUMROLL:
            if head.volumes:
                self.volume_changes.append((self.step, _whole_ms(head.time), head.volumes[0]))
            return
        body = state.get("last_volumes", [])
        edges = head.volumes + body[1:] + end.volumes
        for i in range(min(slides + 1, len(edges))):
            time = _whole_ms(head.time + span * i)
            self.volume_changes.append((self.step, time, edges[i]))
            if body and body[0] != edges[i] and i < slides and span > BODY_VOLUME_DELAY_MS:
                self.volume_changes.append((self.step, time + BODY_VOLUME_DELAY_MS, body[0]))


def _whole_ms(time: float) -> int:
    return int(round(time))  # Python's rounding (half to even), as the published postprocessor's


def _edge(sounds: list[tuple[int, int]]) -> tuple[int, int, int]:
    if not sounds:
        return 0, 0, 0
    bits, normal, addition = decode_hitsound(sounds[0][0])
    return bits, normal, addition
