"""Events: the intermediate representation between beatmaps and token ids.

An event is a (type, value) pair; its printable form is the type's string value followed by the
number (`t81`, `pos500`, `circle0`). The strings are the ones `tokenizer.json` files use.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class EventType(enum.StrEnum):
    TIME_SHIFT = "t"
    SNAPPING = "snap"
    DISTANCE = "dist"
    NEW_COMBO = "new_combo"
    HITSOUND = "hitsound"
    VOLUME = "volume"
    CIRCLE = "circle"
    SPINNER = "spinner"
    SPINNER_END = "spinner_end"
    SLIDER_HEAD = "slider_head"
    BEZIER_ANCHOR = "bezier_anchor"
    PERFECT_ANCHOR = "perfect_anchor"
    CATMULL_ANCHOR = "catmull_anchor"
    RED_ANCHOR = "red_anchor"
    LAST_ANCHOR = "last_anchor"
    SLIDER_END = "slider_end"
    BEAT = "beat"
    MEASURE = "measure"
    TIMING_POINT = "timing_point"
    GAMEMODE = "gamemode"
    STYLE = "style"
    DIFFICULTY = "difficulty"
    MAPPER = "mapper"
    CS = "cs"
    YEAR = "year"
    HITSOUNDED = "hitsounded"
    SONG_LENGTH = "song_length"
    SONG_POSITION = "song_position"
    GLOBAL_SV = "global_sv"
    MANIA_KEYCOUNT = "keycount"
    HOLD_NOTE_RATIO = "hold_note_ratio"
    SCROLL_SPEED_RATIO = "scroll_speed_ratio"
    DESCRIPTOR = "descriptor"
    POS_X = "pos_x"
    POS_Y = "pos_y"
    POS = "pos"
    POS_REFINE = "pos_refine"
    KIAI = "kiai"
    MANIA_COLUMN = "column"
    HOLD_NOTE = "hold_note"
    HOLD_NOTE_END = "hold_note_end"
    SCROLL_SPEED_CHANGE = "scroll_speed_change"
    SCROLL_SPEED = "scroll_speed"
    DRUMROLL = "drumroll"
    DRUMROLL_END = "drumroll_end"
    DENDEN = "denden"
    DENDEN_END = "denden_end"
    SLIDER_SUSTAIN = "slider_sustain"
    SLIDER_REPEAT_SUSTAIN = "slider_repeat_sustain"
    SPINNER_SUSTAIN = "spinner_sustain"
    HOLD_NOTE_SUSTAIN = "hold_note_sustain"
    DRUMROLL_SUSTAIN = "drumroll_sustain"
    DENDEN_SUSTAIN = "denden_sustain"


class ContextType(enum.StrEnum):
    NONE = "none"
    TIMING = "timing"
    NO_HS = "no_hs"
    GD = "gd"
    MAP = "map"
    KIAI = "kiai"
    SV = "sv"


class Event(NamedTuple):
    type: EventType
    value: int = 0

    def __str__(self) -> str:
        return f"{self.type.value}{self.value}"


def make_event(kind: EventType, value: int = 0, _new=tuple.__new__) -> Event:
    """Event(kind, value) without the namedtuple constructor's Python-level call (hot in tokenizing)."""
    return _new(Event, (kind, value))


# Types that open a group and carry the group's time right after (types first) or before them.
TIMED_TYPES = frozenset({
    EventType.CIRCLE, EventType.SPINNER, EventType.SPINNER_END, EventType.SLIDER_HEAD, EventType.LAST_ANCHOR,
    EventType.SLIDER_END, EventType.BEAT, EventType.MEASURE, EventType.TIMING_POINT, EventType.KIAI,
    EventType.HOLD_NOTE, EventType.HOLD_NOTE_END, EventType.SCROLL_SPEED_CHANGE, EventType.DRUMROLL,
    EventType.DRUMROLL_END, EventType.DENDEN, EventType.DENDEN_END, EventType.SLIDER_SUSTAIN,
    EventType.SLIDER_REPEAT_SUSTAIN, EventType.SPINNER_SUSTAIN, EventType.HOLD_NOTE_SUSTAIN,
    EventType.DRUMROLL_SUSTAIN, EventType.DENDEN_SUSTAIN,
})
ANCHOR_TYPES = frozenset({EventType.BEZIER_ANCHOR, EventType.PERFECT_ANCHOR, EventType.CATMULL_ANCHOR,
                          EventType.RED_ANCHOR, EventType.LAST_ANCHOR})
TYPE_TOKENS = TIMED_TYPES | ANCHOR_TYPES
BEAT_TYPES = frozenset({EventType.BEAT, EventType.MEASURE, EventType.TIMING_POINT})
