"""The typed data model of a beatmap: what a `.osu` file holds, for all four game modes.

Plain dataclasses with no behaviour beyond small derived properties; reading, writing,
slider geometry and derived timing live in their own modules. Times are in milliseconds
(float: lazer files and converted maps carry fractional times), positions in osu! pixels
on the 512 x 384 playfield.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

PLAYFIELD_WIDTH = 512  # osu! pixels
PLAYFIELD_HEIGHT = 384  # osu! pixels
LATEST_STABLE_VERSION = 14
FIRST_LAZER_VERSION = 128


class GameMode(enum.IntEnum):
    OSU = 0
    TAIKO = 1
    CATCH = 2
    MANIA = 3


class SampleSet(enum.IntEnum):
    AUTO = 0  # inherit: timing point's set (normal) or the normal sound's set (additions)
    NORMAL = 1
    SOFT = 2
    DRUM = 3


class HitSound(enum.IntFlag):
    NONE = 0
    NORMAL = 1
    WHISTLE = 2
    FINISH = 4
    CLAP = 8


class CurveType(enum.StrEnum):
    BEZIER = "B"
    PERFECT = "P"
    CATMULL = "C"
    LINEAR = "L"


@dataclass
class HitSample:
    """The colon-separated `normalSet:additionSet:index:volume:filename` list of a hit object."""

    normal_set: int = 0
    addition_set: int = 0
    index: int = 0
    volume: int = 0  # 0 = take the timing point's volume
    filename: str = ""


@dataclass
class EdgeSound:
    """Sound of one slider edge (head, each repeat, tail)."""

    hitsound: int = 0
    normal_set: int = 0
    addition_set: int = 0


@dataclass
class HitObject:
    x: float
    y: float
    time: float
    new_combo: bool = False
    combo_skip: int = 0  # extra combo colours to skip (0-7), meaningful with new_combo
    hitsound: int = 0  # HitSound bits
    sample: HitSample = field(default_factory=HitSample)

    @property
    def end_time(self) -> float:
        """End time where the object itself stores it; sliders need timing (see `timing.object_end_time`)."""
        return self.time


@dataclass
class Circle(HitObject):
    pass


@dataclass
class PathPoint:
    """One control point of a slider path.

    `type` is set where a new path segment of that curve type starts (always on the head point;
    lazer v128 files may switch type mid-path). A stable red anchor is a point written twice in a
    row and is kept that way, exactly as the file holds it.
    """

    x: float
    y: float
    type: CurveType | None = None
    degree: int | None = None  # lazer B-spline degree (`B3`), None for a plain Bezier


@dataclass
class Slider(HitObject):
    path: list[PathPoint] = field(default_factory=list)  # path[0] is the head, at (x, y)
    slides: int = 1  # repeats + 1
    length: float = 0.0  # pixel length the path is cut or extended to
    edge_sounds: list[EdgeSound] = field(default_factory=list)  # slides + 1 entries when present
    duration: float | None = None  # ms for all slides; filled by the reader from timing (None if unknown)

    @property
    def curve_type(self) -> CurveType:
        return (self.path[0].type if self.path else None) or CurveType.BEZIER

    @property
    def repeats(self) -> int:
        return self.slides - 1

    @property
    def end_time(self) -> float:
        return self.time + (self.duration or 0.0)


@dataclass
class Spinner(HitObject):
    spinner_end: float = 0.0

    @property
    def end_time(self) -> float:
        return self.spinner_end


@dataclass
class HoldNote(HitObject):
    """osu!mania hold note; its column follows from x and the key count."""

    hold_end: float = 0.0

    @property
    def end_time(self) -> float:
        return self.hold_end


@dataclass
class TimingPoint:
    time: float
    beat_length: float  # ms per beat on a red line; -100/SV on a green line (NaN allowed on green lines)
    meter: int = 4
    sample_set: int = 0
    sample_index: int = 0
    volume: int = 100
    uninherited: bool = True
    effects: int = 0  # bit 0 kiai, bit 3 omit first bar line

    KIAI = 1
    OMIT_FIRST_BARLINE = 8

    @property
    def kiai(self) -> bool:
        return bool(self.effects & self.KIAI)

    @property
    def bpm(self) -> float | None:
        return 60000.0 / self.beat_length if self.uninherited and self.beat_length > 0 else None

    @property
    def slider_velocity(self) -> float:
        """SV multiplier of a green line (1.0 for red lines); lazer clamps to 0.1-10."""
        if self.uninherited or not self.beat_length < 0:
            return 1.0
        return min(10.0, max(0.1, 100.0 / -self.beat_length))


@dataclass
class Break:
    start: float
    end: float


@dataclass
class General:
    audio_filename: str = ""
    audio_lead_in: int = 0
    preview_time: int = -1
    countdown: int = 1
    sample_set: str = "Normal"
    stack_leniency: float = 0.7
    mode: GameMode = GameMode.OSU
    letterbox_in_breaks: bool = False
    widescreen_storyboard: bool = False
    special_style: bool = False
    epilepsy_warning: bool = False
    samples_match_playback_rate: bool = False
    extra: dict[str, str] = field(default_factory=dict)  # keys we do not model, kept for writing


@dataclass
class Editor:
    bookmarks: list[int] = field(default_factory=list)
    distance_spacing: float = 1.0
    beat_divisor: int = 4
    grid_size: int = 4
    timeline_zoom: float = 1.0
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Metadata:
    title: str = ""
    title_unicode: str = ""
    artist: str = ""
    artist_unicode: str = ""
    creator: str = ""
    version: str = ""
    source: str = ""
    tags: list[str] = field(default_factory=list)
    beatmap_id: int = 0
    beatmap_set_id: int = -1


@dataclass
class Difficulty:
    hp_drain_rate: float = 5.0
    circle_size: float = 5.0
    overall_difficulty: float = 5.0
    approach_rate: float = 5.0
    slider_multiplier: float = 1.4
    slider_tick_rate: float = 1.0


@dataclass
class Events:
    background: str | None = None
    background_offset: tuple[int, int] = (0, 0)
    video: str | None = None
    video_start: int = 0
    video_offset: tuple[int, int] = (0, 0)
    breaks: list[Break] = field(default_factory=list)
    other_lines: list[str] = field(default_factory=list)  # storyboard and legacy lines, kept verbatim


@dataclass
class Beatmap:
    format_version: int = LATEST_STABLE_VERSION
    general: General = field(default_factory=General)
    editor: Editor = field(default_factory=Editor)
    metadata: Metadata = field(default_factory=Metadata)
    difficulty: Difficulty = field(default_factory=Difficulty)
    events: Events = field(default_factory=Events)
    timing_points: list[TimingPoint] = field(default_factory=list)
    combo_colours: list[tuple[int, int, int]] = field(default_factory=list)
    extra_colours: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # SliderBorder, ...
    hit_objects: list[HitObject] = field(default_factory=list)
    parse_warnings: list[str] = field(default_factory=list, compare=False)  # what the reader skipped

    @property
    def mode(self) -> GameMode:
        return self.general.mode

    @property
    def key_count(self) -> int:
        """osu!mania key count (CircleSize), clamped as lazer does."""
        return max(1, min(18, round(self.difficulty.circle_size)))
