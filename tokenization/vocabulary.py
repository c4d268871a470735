"""The token vocabulary of a checkpoint: read literally from `tokenizer.json`, or built for a new model.

Ids: 0 PAD, 1 SOS, 2 EOS, then two ids (start, end) per context type, then the event ranges:
the output ranges (what the model can emit) followed by the input-only ranges (prompt tokens).
A published model's vocabulary is whatever its file says; nothing here re-derives it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tokenization.errors import MapperInputError
from tokenization.events import ContextType, Event, EventType
from tokenization.small_files import MAX_TOKENIZER_BYTES, excerpt, read_json

PAD_ID, SOS_ID, EOS_ID = 0, 1, 2
FIRST_CONTEXT_ID = 3
TOKENIZER_FILE = "tokenizer.json"
# Event ids a vocabulary may have, far above any model's (v29: ~4,700): a table of ids is built per
# token, so a range claiming 10^12 values must be refused before it is built.
MAX_EVENT_TOKENS = 1_000_000


@dataclass(frozen=True)
class EventRange:
    type: EventType
    min_value: int
    max_value: int

    @property
    def size(self) -> int:
        return self.max_value - self.min_value + 1

    def to_json(self) -> dict:
        return {"type": self.type.value, "min_value": self.min_value, "max_value": self.max_value}


@dataclass
class Vocabulary:
    offset: int
    context_sos: dict[ContextType, int]
    context_eos: dict[ContextType, int]
    output_ranges: list[EventRange]
    input_ranges: list[EventRange]
    num_classes: int = 0
    num_diff_classes: int = 24
    max_difficulty: float = 12
    num_cs_classes: int = 21
    beatmap_idx: dict[int, int] = field(default_factory=dict)
    beatmap_mapper: dict[int, int] = field(default_factory=dict)
    mapper_idx: dict[int, int] = field(default_factory=dict)
    num_mapper_classes: int = 0
    beatmap_descriptors: dict[int, list[int]] = field(default_factory=dict)
    descriptor_idx: dict[str, int] = field(default_factory=dict)
    num_descriptor_classes: int = 0

    def __post_init__(self):
        self.event_start: dict[EventType, int] = {}
        self.ranges: dict[EventType, EventRange] = {}
        self._id_type: list[EventType] = []
        self._id_value: list[int] = []
        next_id = self.offset
        every = self.output_ranges + self.input_ranges
        if any(rng.size < 1 for rng in every) or sum(rng.size for rng in every) + self.offset > MAX_EVENT_TOKENS:
            empty = next((rng for rng in every if rng.size < 1), None)
            raise ValueError(f"event range {empty.type.value} runs from {empty.min_value} down to {empty.max_value}"
                             if empty is not None else f"its event ranges hold more than {MAX_EVENT_TOKENS} tokens")
        for rng in every:
            if rng.type in self.ranges:
                raise MapperInputError(f"tokenizer: event type {rng.type.value!r} appears twice")
            self.event_start[rng.type] = next_id
            self.ranges[rng.type] = rng
            self._id_type.extend([rng.type] * rng.size)
            self._id_value.extend(range(rng.min_value, rng.max_value + 1))
            next_id += rng.size
        self.vocab_size_out = self.offset + sum(r.size for r in self.output_ranges)
        self.vocab_size_in = next_id
        self._context_by_id = {i: (c, True) for c, i in self.context_sos.items()}
        self._context_by_id.update({i: (c, False) for c, i in self.context_eos.items()})

    # -- encoding ----------------------------------------------------------------------------
    def has(self, event_type: EventType) -> bool:
        return event_type in self.event_start

    def encode(self, event: Event) -> int:
        rng = self.ranges.get(event.type)
        if rng is None:
            raise KeyError(f"event type {event.type.value!r} is not in this vocabulary")
        if not rng.min_value <= event.value <= rng.max_value:
            raise ValueError(f"{event.type.value}{event.value} is outside {rng.min_value}..{rng.max_value}")
        return self.event_start[event.type] + event.value - rng.min_value

    def encode_clipped(self, event_type: EventType, value: int) -> int:
        rng = self.ranges[event_type]
        return self.event_start[event_type] + min(max(value, rng.min_value), rng.max_value) - rng.min_value

    def decode(self, token_id: int) -> Event:
        """The event of an event id; raises ValueError for special and context ids."""
        index = token_id - self.offset
        if 0 <= index < len(self._id_type):
            return Event(self._id_type[index], self._id_value[index])
        raise ValueError(f"token {token_id} is not an event")

    def is_event(self, token_id: int) -> bool:
        return 0 <= token_id - self.offset < len(self._id_type)

    def context_of(self, token_id: int) -> tuple[ContextType, bool] | None:
        """(context, is_start) for a context token, else None."""
        return self._context_by_id.get(token_id)

    def token_name(self, token_id: int) -> str:
        if token_id in (PAD_ID, SOS_ID, EOS_ID):
            return ("PAD", "SOS", "EOS")[token_id]
        context = self.context_of(token_id)
        if context is not None:
            return f"{'SOS' if context[1] else 'EOS'}_{context[0].name}"
        return str(self.decode(token_id))

    def type_ids(self, event_type: EventType) -> range:
        if event_type not in self.event_start:
            return range(0)
        start = self.event_start[event_type]
        return range(start, start + self.ranges[event_type].size)

    # -- files -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict, source: str = TOKENIZER_FILE) -> Vocabulary:
        try:
            def ranges(key):
                return [EventRange(EventType(r["type"]), int(r["min_value"]), int(r["max_value"]))
                        for r in data.get(key, [])]

            vocab = cls(
                offset=int(data.get("offset", FIRST_CONTEXT_ID)),
                context_sos={ContextType(k): int(v) for k, v in data.get("context_sos", {}).items()},
                context_eos={ContextType(k): int(v) for k, v in data.get("context_eos", {}).items()},
                output_ranges=ranges("event_ranges"), input_ranges=ranges("input_event_ranges"),
                num_classes=int(data.get("num_classes", 0) or 0),
                num_diff_classes=int(data.get("num_diff_classes", 0) or 0),
                max_difficulty=float(data.get("max_difficulty", 0) or 0),
                num_cs_classes=int(data.get("num_cs_classes", 0) or 0),
                beatmap_idx={int(k): int(v) for k, v in (data.get("beatmap_idx") or {}).items()},
                beatmap_mapper={int(k): int(v) for k, v in (data.get("beatmap_mapper") or {}).items()},
                mapper_idx={int(k): int(v) for k, v in (data.get("mapper_idx") or {}).items()},
                num_mapper_classes=int(data.get("num_mapper_classes", 0) or 0),
                beatmap_descriptors={int(k): [int(i) for i in v]
                                     for k, v in (data.get("beatmap_descriptors") or {}).items()},
                descriptor_idx={str(k): int(v) for k, v in (data.get("descriptor_idx") or {}).items()},
                num_descriptor_classes=int(data.get("num_descriptor_classes", 0) or 0),
            )
            stored = data.get("event_start")
            mismatched = [name for name, start in (stored or {}).items()  # a cache of the same arithmetic:
                          if vocab.event_start.get(EventType(name)) != int(start)]  # a mismatch, a file we do not understand
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise MapperInputError(f"{source}: not a valid tokenizer file ({type(exc).__name__}: "
                                   f"{excerpt(str(exc))})") from None
        if mismatched:
            raise MapperInputError(f"{source}: event_start[{mismatched[0]}] = {stored[mismatched[0]]} disagrees "
                                   f"with its ranges")
        return vocab

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        path = Path(path)
        if path.is_dir():
            path = path / TOKENIZER_FILE
        if not os.path.lexists(path):
            raise MapperInputError(f"{path}: no tokenizer file")
        return cls.from_dict(read_json(path, MAX_TOKENIZER_BYTES), str(path))

    def to_dict(self) -> dict:
        every = self.output_ranges + self.input_ranges
        return {
            "offset": self.offset,
            "context_sos": {c.value: i for c, i in self.context_sos.items()},
            "context_eos": {c.value: i for c, i in self.context_eos.items()},
            "event_ranges": [r.to_json() for r in self.output_ranges],
            "input_event_ranges": [r.to_json() for r in self.input_ranges],
            "num_classes": self.num_classes, "num_diff_classes": self.num_diff_classes,
            "max_difficulty": self.max_difficulty,
            "event_range": {r.type.value: r.to_json() for r in every},
            "event_start": {t.value: i for t, i in self.event_start.items()},
            "event_end": {t.value: i + self.ranges[t].size for t, i in self.event_start.items()},
            "vocab_size_out": self.vocab_size_out, "vocab_size_in": self.vocab_size_in,
            "beatmap_idx": {str(k): v for k, v in self.beatmap_idx.items()},
            "beatmap_mapper": {str(k): v for k, v in self.beatmap_mapper.items()},
            "mapper_idx": {str(k): v for k, v in self.mapper_idx.items()},
            "num_mapper_classes": self.num_mapper_classes,
            "beatmap_descriptors": {str(k): v for k, v in self.beatmap_descriptors.items()},
            "descriptor_idx": dict(self.descriptor_idx),
            "num_descriptor_classes": self.num_descriptor_classes,
            "num_cs_classes": self.num_cs_classes,
        }

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        if path.is_dir():
            path = path / TOKENIZER_FILE
        from tokenization.osu_writer import write_text_atomic

        write_text_atomic(path, json.dumps(self.to_dict(), ensure_ascii=False))
        return path


DISTANCE_RANGE = (0, 640)
SNAP_RANGE = (0, 16)
HITSOUND_RANGE = (0, 72)
VOLUME_RANGE = (0, 100)
SCROLL_SPEED_RANGE = (0, 1000)
YEAR_RANGE = (2007, 2077)
SONG_LENGTH_RANGE = (0, 60)
SONG_POSITION_RANGE = (-1, 101)
RATIO_RANGE = (-1, 12)
KEYCOUNT_RANGE = (1, 18)
COLUMN_RANGE = (0, 17)
GLOBAL_SV_RANGE = (40, 360)


def build_vocabulary(settings, templates: list[tuple[list[str], list[str]]], *, mapper_idx: dict[int, int] | None = None,
                     descriptor_idx: dict[str, int] | None = None, num_mapper_classes: int | None = None,
                     num_descriptor_classes: int | None = None) -> Vocabulary:
    """A vocabulary for a new model, laid out as the original lays out its own (reference §2.1).

    `templates` are (in-contexts, out-contexts) name lists; `mapper_idx` maps osu! user ids and
    `descriptor_idx` style names to class indices (the unknown class is one past the last).
    """
    s = settings
    mapper_idx = dict(mapper_idx or {})
    descriptor_idx = dict(descriptor_idx or {})
    n_mappers = num_mapper_classes if num_mapper_classes is not None else len(mapper_idx)
    n_descriptors = num_descriptor_classes if num_descriptor_classes is not None else len(descriptor_idx)

    context_sos: dict[ContextType, int] = {}
    context_eos: dict[ContextType, int] = {}
    next_id = FIRST_CONTEXT_ID
    for inputs, outputs in templates:
        for name in list(inputs) + (list(outputs) if s.add_out_context_types else []):
            context = ContextType(name)
            if context not in context_sos:
                context_sos[context], context_eos[context] = next_id, next_id + 1
                next_id += 2
    out: list[EventRange] = []
    inp: list[EventRange] = []

    def add(target, kind, lo, hi=None):
        target.append(EventRange(kind, lo, lo if hi is None else hi))

    add(out, EventType.TIME_SHIFT, 0, s.max_time_steps)
    if s.add_snapping:
        add(out, EventType.SNAPPING, *SNAP_RANGE)
    if s.add_gamemode_token:
        add(inp, EventType.GAMEMODE, 0, 3)
    if s.add_difficulty_token:
        add(inp, EventType.DIFFICULTY, 0, s.num_diff_classes)
    if s.add_mapper_token:
        add(inp, EventType.MAPPER, 0, n_mappers)
    if s.add_cs_token:
        add(inp, EventType.CS, 0, s.num_cs_classes)
    if s.add_year_token:
        add(inp, EventType.YEAR, *YEAR_RANGE)
    if s.add_hitsounded_token:
        add(inp, EventType.HITSOUNDED, 0, 1)
    if s.add_song_length_token:
        add(inp, EventType.SONG_LENGTH, *SONG_LENGTH_RANGE)
    if s.add_song_position_token:
        add(inp, EventType.SONG_POSITION, *SONG_POSITION_RANGE)
    if s.add_descriptors:
        add(inp, EventType.DESCRIPTOR, 0, n_descriptors)
    if s.add_distances:
        add(out, EventType.DISTANCE, *DISTANCE_RANGE)
    if s.add_positions:
        x_min, x_max, y_min, y_max = s.position_range
        p = s.position_precision
        if s.position_split_axes:
            add(out, EventType.POS_X, int(x_min / p), int(x_max / p))
            add(out, EventType.POS_Y, int(y_min / p), int(y_max / p))
        else:
            cells = int((x_max - x_min) / p + 1) * int((y_max - y_min) / p + 1)
            add(out, EventType.POS, 0, cells - 1)
            if s.position_refinement:
                add(out, EventType.POS_REFINE, 0, (p // s.position_refinement) ** 2 - 1)
    modes = set(s.gamemodes)
    if 3 in modes:
        if s.add_mania_prompt_tokens:
            add(inp, EventType.MANIA_KEYCOUNT, *KEYCOUNT_RANGE)
            add(inp, EventType.HOLD_NOTE_RATIO, *RATIO_RANGE)
        add(out, EventType.MANIA_COLUMN, *COLUMN_RANGE)
    if modes & {1, 3} or s.add_sv:
        if s.add_scroll_speed_ratio_token:
            add(inp, EventType.SCROLL_SPEED_RATIO, *RATIO_RANGE)
        add(out, EventType.SCROLL_SPEED, *SCROLL_SPEED_RANGE)
    if s.add_global_sv_token:
        add(inp, EventType.GLOBAL_SV, *GLOBAL_SV_RANGE)
    add(out, EventType.NEW_COMBO, 0)
    if s.add_hitsounds:
        add(out, EventType.HITSOUND, *HITSOUND_RANGE)
        add(out, EventType.VOLUME, *VOLUME_RANGE)
    for kind in (EventType.CIRCLE, EventType.SPINNER, EventType.SPINNER_END, EventType.SLIDER_HEAD,
                 EventType.BEZIER_ANCHOR, EventType.PERFECT_ANCHOR, EventType.CATMULL_ANCHOR, EventType.RED_ANCHOR,
                 EventType.LAST_ANCHOR, EventType.SLIDER_END, EventType.BEAT, EventType.MEASURE):
        add(out, kind, 0)
    if s.add_timing_points:
        add(out, EventType.TIMING_POINT, 0)
    if s.add_kiai or any("kiai" in outputs for _, outputs in templates):
        add(out, EventType.KIAI, 0, 1)
    sustain = bool(s.sustain_interval)
    if sustain:
        for kind in (EventType.SLIDER_SUSTAIN, EventType.SLIDER_REPEAT_SUSTAIN, EventType.SPINNER_SUSTAIN):
            add(out, kind, 0)
    if 3 in modes:
        for kind in (EventType.HOLD_NOTE, EventType.HOLD_NOTE_END, EventType.SCROLL_SPEED_CHANGE):
            add(out, kind, 0)
        if sustain:
            add(out, EventType.HOLD_NOTE_SUSTAIN, 0)
    if 1 in modes:
        for kind in (EventType.DRUMROLL, EventType.DRUMROLL_END, EventType.DENDEN, EventType.DENDEN_END):
            add(out, kind, 0)
        if sustain:
            add(out, EventType.DRUMROLL_SUSTAIN, 0)
            add(out, EventType.DENDEN_SUSTAIN, 0)
    return Vocabulary(offset=next_id, context_sos=context_sos, context_eos=context_eos, output_ranges=out,
                      input_ranges=inp, num_diff_classes=s.num_diff_classes, max_difficulty=s.max_difficulty,
                      num_cs_classes=s.num_cs_classes, mapper_idx=mapper_idx, num_mapper_classes=n_mappers,
                      descriptor_idx=descriptor_idx, num_descriptor_classes=n_descriptors)
