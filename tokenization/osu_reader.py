"""Reading `.osu` files (format v3-v14 and lazer's v128) into a `Beatmap`.

Section-based, as osu!lazer's LegacyBeatmapDecoder: each `[Section]` has its own line parser.
Tolerant of what real files contain (BOM, CRLF, comments, unknown sections and keys, short
timing-point lines, missing sections) and strict on numbers: NaN, infinities and absurd values
raise a ParseError naming the file, the line and the field. A hit-object line whose values lie
beyond osu!'s limits is skipped with a warning, as osu! does, and the rest of the file is read.

Every later loop (slider repeats, beat ticks, sustain tokens, curve points) is bounded by what a
real map can hold, so that no tiny file can make reading or tokenizing run for ever: the limits
(`tokenization.limits`) are checked here, once, and downstream code may rely on them.

Over 300 lines: one small parser per section, as lazer's decoder, plus the number checks every
section shares; each parser is short, and together they are the one job of reading the format.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from tokenization.beatmap import (
    Beatmap,
    Break,
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
    TimingPoint,
)
from tokenization.errors import ParseError
from tokenization.limits import (  # noqa: F401 - MAX_FILE_BYTES is read from here by archive and dataset code
    MAX_BEAT_LENGTH,
    MAX_CONTROL_POINTS,
    MAX_COORDINATE,
    MAX_FILE_BYTES,
    MAX_HIT_OBJECTS,
    MAX_SLIDER_LENGTH,
    MAX_SLIDES,
    MAX_TIME_MS,
    MAX_TIMING_POINTS,
    check_extent,
    check_sizes,
)


class LineError(ParseError):
    """One line cannot be read: a value that is no number, or one beyond osu!'s limits. osu! skips
    such a line and reads the rest of the file; so do we, in every per-line section. In
    [HitObjects] only values out of range are skipped (malformed objects still refuse the file)."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, field: str | None = None):
        super().__init__(message, path=path, line=line, field=field)
        self.detail = message + (f" (field {field})" if field is not None else "")


class OutOfRange(LineError):
    """A value beyond osu!'s limits: even a hit-object line holding one is skipped, as osu! skips it."""


# what a skipped line was, per section, for the warning
SKIPPED_LINE = {"General": "setting", "Editor": "setting", "Metadata": "setting", "Difficulty": "setting",
                "Events": "event", "TimingPoints": "timing point", "Colours": "colour"}

EARLY_VERSION_TIMING_OFFSET_MS = 24  # files before v5 play 24 ms late in osu!, lazer shifts them
EARLY_VERSION_LIMIT = 5
HEADER = "osu file format v"

TYPE_CIRCLE, TYPE_SLIDER, TYPE_NEW_COMBO, TYPE_SPINNER, TYPE_HOLD = 1, 2, 4, 8, 128
COMBO_SKIP_SHIFT, COMBO_SKIP_MASK = 4, 7


def read_beatmap(path: str | os.PathLike) -> Beatmap:
    """Read a `.osu` file; raises ParseError (one line, naming the file) when it cannot."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ParseError(f"cannot read beatmap: {exc.strerror or exc}", path=str(path)) from None
    if path.is_dir():
        raise ParseError("is a folder, not a .osu file", path=str(path))
    if size > MAX_FILE_BYTES:
        raise ParseError(f"file is too large for a beatmap ({size} bytes; limit {MAX_FILE_BYTES})", path=str(path))
    return parse_beatmap(path.read_bytes(), path=str(path))


def parse_beatmap(data: bytes | str, path: str | None = None) -> Beatmap:
    text = decode_text(data) if isinstance(data, bytes) else data
    if len(text) > MAX_FILE_BYTES:
        raise ParseError("text is too large for a beatmap", path=path)
    return _Reader(text, path).read()


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), then UTF-16 with a BOM, then Latin-1, as old files need."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def shift_times(bm: Beatmap, offset: float) -> None:
    """Move every time in the beatmap by `offset` ms, in place."""
    for tp in bm.timing_points:
        tp.time += offset
    for obj in bm.hit_objects:
        obj.time += offset
        if isinstance(obj, Spinner):
            obj.spinner_end += offset
        elif isinstance(obj, HoldNote):
            obj.hold_end += offset
    for brk in bm.events.breaks:
        brk.start += offset
        brk.end += offset
    if bm.general.preview_time >= 0:
        bm.general.preview_time += int(offset)


def _strip_comment(line: str) -> str:
    index = line.find("//")
    return line[:index].rstrip() if index > 0 else line


class _Reader:
    def __init__(self, text: str, path: str | None):
        self.text = text
        self.path = path
        self.beatmap = Beatmap()
        self.line_no = 0
        self.has_approach_rate = False
        self.object_lines: list[int] = []  # file line of each hit object, for warnings after reading

    # -- errors and numbers ------------------------------------------------------------------
    def error(self, message: str, field: str | None = None) -> ParseError:
        """An unreadable value on the current line (a whole-file problem raises ParseError itself)."""
        return LineError(message, path=self.path, line=self.line_no or None, field=field)

    def out_of_range(self, text: str, field: str, limit: float) -> OutOfRange:
        return OutOfRange(f"value {text.strip()[:40]} is out of range (limit {limit:g})", path=self.path,
                          line=self.line_no or None, field=field)

    def warn(self, message: str) -> None:
        """Note what was skipped; `message` names the field where one is to blame."""
        where = ":".join(str(p) for p in (self.path, f"line {self.line_no}" if self.line_no else None) if p)
        self.beatmap.parse_warnings.append(f"{where}: {message}" if where else message)

    def number(self, text: str, field: str, *, limit: float | None = None, allow_nan: bool = False) -> float:
        try:
            value = float(text)  # float() itself ignores surrounding whitespace
        except ValueError:
            raise self.error(f"not a number: {text.strip()[:40]!r}", field) from None
        if value - value != 0:  # NaN or an infinity (both give NaN here)
            if value != value:
                if allow_nan:
                    return value
                raise self.error("NaN is not allowed", field)
            raise self.error("infinite value", field)
        if limit is not None and (value > limit or value < -limit):
            raise self.out_of_range(text, field, limit)
        return value

    def integer(self, text: str, field: str, *, limit: float = 2**31 - 1) -> int:
        try:
            value = int(text)  # the common case: a plain integer
        except ValueError:
            return int(self.number(text, field, limit=limit))  # "12.0", or an error naming the field
        if value > limit or value < -limit:
            raise self.out_of_range(text, field, limit)
        return value

    # -- driver ------------------------------------------------------------------------------
    def read(self) -> Beatmap:
        if "\x00" in self.text[:4096]:
            raise ParseError("not an osu! beatmap (binary data)", path=self.path)
        if "\x00" in self.text:
            # A NUL further on means nothing in any field; dropped, or our own written copy (where the
            # line may move into the first 4 KB) would be refused as binary.
            self.text = self.text.replace("\x00", "")
            self.warn("NUL characters removed")
        check_sizes(self.text, self.path)
        lines = self.text.splitlines()
        header_index = next((i for i, line in enumerate(lines) if line.strip()), None)
        header = lines[header_index].strip().lstrip("\ufeff") if header_index is not None else ""
        if HEADER in header:  # lazer also accepts junk before the header on its line
            self.line_no = header_index + 1
            version_text = header[header.index(HEADER) + len(HEADER):].strip()
            # isdigit() alone accepts "²" and other digits int() refuses
            if not (version_text.isascii() and version_text.isdigit()) or int(version_text) > 1000:
                raise self.error(f"bad format version {version_text[:20]!r}", "format version")
            self.beatmap.format_version = int(version_text)
        elif header.startswith("[") and header.endswith("]"):
            header_index -= 1  # no header line at all: lazer reads it as the latest version
        else:
            raise ParseError("not an osu! beatmap (no 'osu file format' header)", path=self.path)

        section = None
        handlers = {
            "General": self.general, "Editor": self.editor, "Metadata": self.metadata,
            "Difficulty": self.difficulty, "Events": self.event, "TimingPoints": self.timing_point,
            "Colours": self.colour, "HitObjects": self.hit_object,
        }
        for index in range(header_index + 1, len(lines)):
            self.line_no = index + 1
            raw = lines[index]
            line = raw.strip()
            if not line or line.startswith("//"):
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
                continue
            handler = handlers.get(section)
            if handler is None:
                continue
            if section == "HitObjects":
                try:
                    handler(_strip_comment(line))
                except OutOfRange as exc:  # osu! skips the line with a warning and reads on
                    self.warn(f"{exc.detail}; hit object skipped")
                continue
            if section not in ("Events", "Metadata"):  # titles and storyboard lines may hold "//"
                line = _strip_comment(line)
            try:
                handler(raw if section == "Events" else line)
            except LineError as exc:  # osu! skips a line it cannot read and reads on
                self.warn(f"{exc.detail}; {SKIPPED_LINE[section]} skipped")
        self.line_no = 0
        self.finish()
        return self.beatmap

    def finish(self) -> None:
        bm = self.beatmap
        if not self.has_approach_rate:
            bm.difficulty.approach_rate = bm.difficulty.overall_difficulty
        if bm.format_version < EARLY_VERSION_LIMIT:
            shift_times(bm, EARLY_VERSION_TIMING_OFFSET_MS)
        bm.timing_points.sort(key=lambda tp: tp.time)  # stable: keeps red-before-green order of the file
        self.fill_slider_durations()
        check_extent(bm, self.path)

    def fill_slider_durations(self) -> None:
        """Durations from the timing; a slider that would end beyond osu!'s time range is skipped."""
        from tokenization.timing import TimingIndex

        timing = TimingIndex(self.beatmap.timing_points)
        kept, lines = [], []
        for obj, line in zip(self.beatmap.hit_objects, self.object_lines):
            if isinstance(obj, Slider):
                obj.duration = timing.slider_duration(obj, self.beatmap.difficulty.slider_multiplier)
                if not -MAX_TIME_MS <= obj.time + obj.duration <= MAX_TIME_MS:  # also catches inf and NaN
                    self.line_no = line
                    self.warn(f"slider would end at {obj.time + obj.duration:g} ms, beyond the limit of "
                              f"{MAX_TIME_MS} ms (field length); hit object skipped")
                    continue
            kept.append(obj)
            lines.append(line)
        self.line_no = 0
        self.beatmap.hit_objects, self.object_lines = kept, lines

    # -- key/value sections ------------------------------------------------------------------
    @staticmethod
    def key_value(line: str) -> tuple[str, str] | None:
        if ":" not in line:
            return None
        key, value = line.split(":", 1)
        return key.strip(), value.strip()

    def general(self, line: str) -> None:
        kv = self.key_value(line)
        if kv is None:
            return
        key, value = kv
        g = self.beatmap.general
        if key == "AudioFilename":
            g.audio_filename = value
        elif key == "AudioLeadIn":
            g.audio_lead_in = self.integer(value, key)
        elif key == "PreviewTime":
            g.preview_time = self.integer(value, key)
        elif key == "Countdown":
            g.countdown = self.integer(value, key)
        elif key == "SampleSet":
            g.sample_set = value
        elif key == "StackLeniency":
            g.stack_leniency = self.number(value, key, limit=1e6)
        elif key == "Mode":
            mode = self.integer(value, key)
            if mode not in (0, 1, 2, 3):
                raise self.error(f"unknown game mode {mode}", key)
            g.mode = GameMode(mode)
        elif key == "LetterboxInBreaks":
            g.letterbox_in_breaks = value == "1"
        elif key == "WidescreenStoryboard":
            g.widescreen_storyboard = value == "1"
        elif key == "SpecialStyle":
            g.special_style = value == "1"
        elif key == "EpilepsyWarning":
            g.epilepsy_warning = value == "1"
        elif key == "SamplesMatchPlaybackRate":
            g.samples_match_playback_rate = value == "1"
        else:
            g.extra[key] = value

    def editor(self, line: str) -> None:
        kv = self.key_value(line)
        if kv is None:
            return
        key, value = kv
        e = self.beatmap.editor
        if key == "Bookmarks":
            e.bookmarks = [self.integer(v, key) for v in value.split(",") if v.strip()]
        elif key == "DistanceSpacing":
            e.distance_spacing = self.number(value, key, limit=1e6)
        elif key == "BeatDivisor":
            e.beat_divisor = self.integer(value, key)
        elif key == "GridSize":
            e.grid_size = self.integer(value, key)
        elif key == "TimelineZoom":
            e.timeline_zoom = self.number(value, key, limit=1e6)
        else:
            e.extra[key] = value

    def metadata(self, line: str) -> None:
        kv = self.key_value(line)
        if kv is None:
            return
        key, value = kv
        m = self.beatmap.metadata
        text_fields = {"Title": "title", "TitleUnicode": "title_unicode", "Artist": "artist",
                       "ArtistUnicode": "artist_unicode", "Creator": "creator", "Version": "version",
                       "Source": "source"}
        if key in text_fields:
            setattr(m, text_fields[key], value)
        elif key == "Tags":
            m.tags = value.split()
        elif key == "BeatmapID":
            m.beatmap_id = self.integer(value, key)
        elif key == "BeatmapSetID":
            m.beatmap_set_id = self.integer(value, key)

    def difficulty(self, line: str) -> None:
        kv = self.key_value(line)
        if kv is None:
            return
        key, value = kv
        d = self.beatmap.difficulty
        fields = {"HPDrainRate": "hp_drain_rate", "CircleSize": "circle_size", "OverallDifficulty":
                  "overall_difficulty", "ApproachRate": "approach_rate", "SliderMultiplier": "slider_multiplier",
                  "SliderTickRate": "slider_tick_rate"}
        if key in fields:
            setattr(d, fields[key], self.number(value, key, limit=1e4))
            if key == "ApproachRate":
                self.has_approach_rate = True

    def colour(self, line: str) -> None:
        kv = self.key_value(line)
        if kv is None:
            return
        key, value = kv
        parts = value.split(",")
        if len(parts) < 3:
            raise self.error(f"colour needs r,g,b: {value[:40]!r}", key)
        rgb = tuple(max(0, min(255, self.integer(p, key))) for p in parts[:3])
        if key.startswith("Combo"):
            self.beatmap.combo_colours.append(rgb)
        else:
            self.beatmap.extra_colours[key] = rgb

    # -- events ------------------------------------------------------------------------------
    def event(self, raw: str) -> None:
        line = raw.strip()
        if raw[:1] in (" ", "_"):  # storyboard command lines are indented
            self.beatmap.events.other_lines.append(raw.rstrip())
            return
        parts = [p.strip() for p in line.split(",")]
        kind = parts[0]
        events = self.beatmap.events
        if kind in ("0", "Background") and len(parts) >= 3:
            events.background = parts[2].strip('"')
            if len(parts) >= 5:
                events.background_offset = (self.integer(parts[3], "background x"),
                                            self.integer(parts[4], "background y"))
        elif kind in ("1", "Video") and len(parts) >= 3:
            events.video = parts[2].strip('"')
            events.video_start = self.integer(parts[1], "video start", limit=MAX_TIME_MS)
            if len(parts) >= 5:
                events.video_offset = (self.integer(parts[3], "video x"), self.integer(parts[4], "video y"))
        elif kind in ("2", "Break") and len(parts) >= 3:
            start = self.number(parts[1], "break start", limit=MAX_TIME_MS)
            end = self.number(parts[2], "break end", limit=MAX_TIME_MS)
            events.breaks.append(Break(start, max(start, end)))
        else:
            events.other_lines.append(raw.rstrip())

    # -- timing points -----------------------------------------------------------------------
    def timing_point(self, line: str) -> None:
        parts = line.split(",")
        if len(parts) < 2:
            raise self.error("timing point needs at least time and beat length", "timing point")
        time = self.number(parts[0], "time", limit=MAX_TIME_MS)
        uninherited = True
        if len(parts) >= 7 and parts[6].strip():
            uninherited = parts[6].strip() != "0"
        beat_length = self.number(parts[1], "beatLength", limit=MAX_BEAT_LENGTH, allow_nan=True)
        if math.isnan(beat_length) and uninherited:
            # osu! drops a red line without a tempo and keeps reading (green lines may hold NaN)
            self.warn("red line with NaN beat length ignored (field beatLength)")
            return
        if uninherited and beat_length <= 0:
            # stable treats a non-positive beat length on a red line as an inherited point
            uninherited = False if beat_length < 0 else uninherited
        meter = self.integer(parts[2], "meter") if len(parts) >= 3 and parts[2].strip() else 4
        if meter <= 0:
            meter = 4
        sample_set = self.integer(parts[3], "sampleSet", limit=1000) if len(parts) >= 4 and parts[3].strip() else 0
        sample_index = self.integer(parts[4], "sampleIndex") if len(parts) >= 5 and parts[4].strip() else 0
        volume = self.integer(parts[5], "volume") if len(parts) >= 6 and parts[5].strip() else 100
        effects = self.integer(parts[7], "effects") if len(parts) >= 8 and parts[7].strip() else 0
        if len(self.beatmap.timing_points) >= MAX_TIMING_POINTS:
            raise ParseError(f"more than {MAX_TIMING_POINTS} timing points; no real map holds that many",
                             path=self.path, line=self.line_no, field="timing point")
        self.beatmap.timing_points.append(TimingPoint(
            time=time, beat_length=beat_length, meter=meter, sample_set=sample_set, sample_index=sample_index,
            volume=volume, uninherited=uninherited, effects=effects))

    # -- hit objects -------------------------------------------------------------------------
    def coordinate(self, text: str, field: str) -> float:
        # Kept as written: stable files hold integers anyway, and lazer's fractional positions survive
        # a round trip through our v14 writer. Consumers that need stable's integer positions truncate.
        return self.number(text, field, limit=MAX_COORDINATE)

    def hit_sample(self, text: str) -> HitSample:
        if text == "0:0:0:0:" or not text:  # by far the most common: every field inherited
            return HitSample()
        parts = text.split(":")
        sample = HitSample()
        fields = ("normal_set", "addition_set", "index", "volume")
        for name, part in zip(fields, parts[:4]):
            if part.strip():
                setattr(sample, name, self.integer(part, f"hitSample.{name}"))
        if len(parts) >= 5:
            sample.filename = ":".join(parts[4:]).strip()
        return sample

    def hit_object(self, line: str) -> None:
        parts = line.split(",")
        if len(parts) < 4:
            raise self.error("hit object needs at least x,y,time,type", "hit object")
        try:  # fast path for well-formed lines; anything odd takes the checked path for its message
            x, y, time = float(parts[0]), float(parts[1]), float(parts[2])
            type_bits = int(parts[3])
            hitsound = int(parts[4]) if len(parts) >= 5 and parts[4] else 0
            valid = (-MAX_COORDINATE <= x <= MAX_COORDINATE and -MAX_COORDINATE <= y <= MAX_COORDINATE
                     and -MAX_TIME_MS <= time <= MAX_TIME_MS and 0 <= type_bits < 2**31 and 0 <= hitsound < 2**31)
        except ValueError:
            valid = False
        if not valid:
            x = self.coordinate(parts[0], "x")
            y = self.coordinate(parts[1], "y")
            time = self.number(parts[2], "time", limit=MAX_TIME_MS)
            type_bits = self.integer(parts[3], "type")
            hitsound = self.integer(parts[4], "hitSound") if len(parts) >= 5 and parts[4].strip() else 0
        new_combo = bool(type_bits & TYPE_NEW_COMBO)
        combo_skip = (type_bits >> COMBO_SKIP_SHIFT) & COMBO_SKIP_MASK
        common = dict(x=x, y=y, time=time, new_combo=new_combo, combo_skip=combo_skip, hitsound=hitsound)

        obj: HitObject
        if type_bits & TYPE_CIRCLE:
            sample = self.hit_sample(parts[5]) if len(parts) >= 6 else HitSample()
            obj = Circle(**common, sample=sample)
        elif type_bits & TYPE_SLIDER:
            obj = self.slider(parts, common)
        elif type_bits & TYPE_SPINNER:
            if len(parts) < 6:
                raise self.error("spinner needs an end time", "endTime")
            end = self.number(parts[5], "endTime", limit=MAX_TIME_MS)
            sample = self.hit_sample(parts[6]) if len(parts) >= 7 else HitSample()
            obj = Spinner(**common, sample=sample, spinner_end=max(end, time))
        elif type_bits & TYPE_HOLD:
            if len(parts) < 6:
                raise self.error("hold note needs an end time", "endTime")
            end_text, _, sample_text = parts[5].partition(":")
            end = self.number(end_text, "endTime", limit=MAX_TIME_MS)
            sample = self.hit_sample(sample_text) if sample_text else HitSample()
            obj = HoldNote(**common, sample=sample, hold_end=max(end, time))
        else:
            raise self.error(f"unknown hit object type {type_bits}", "type")
        if len(self.beatmap.hit_objects) >= MAX_HIT_OBJECTS:
            raise self.error(f"more than {MAX_HIT_OBJECTS} hit objects; no real map holds that many", "hit object")
        self.beatmap.hit_objects.append(obj)
        self.object_lines.append(self.line_no)

    def slider(self, parts: list[str], common: dict) -> Slider:
        if len(parts) < 8:
            raise self.error("slider needs curve, slides and length", "slider")
        points = parts[5].count("|")
        if points > MAX_CONTROL_POINTS:  # counted before any is parsed: a 3 MB line costs nothing
            raise OutOfRange(f"slider has {points} control points (limit {MAX_CONTROL_POINTS})", path=self.path,
                             line=self.line_no, field="curvePoints")
        path = [PathPoint(common["x"], common["y"])]
        for token in parts[5].split("|"):
            token = token.strip()
            if not token:
                continue
            if ":" not in token:
                # A type letter starts a segment at the point before it (lazer writes `...|a:b|P|c:d|...`).
                path[-1].type, path[-1].degree = self.curve_type(token)
                continue
            xs, _, ys = token.partition(":")
            path.append(PathPoint(self.coordinate(xs, "curve x"), self.coordinate(ys, "curve y")))
        if path[0].type is None:
            path[0].type = CurveType.BEZIER
        slides = self.integer(parts[6], "slides", limit=MAX_SLIDES)
        if slides < 1:
            slides = 1
        length = self.number(parts[7], "length", limit=MAX_SLIDER_LENGTH)
        length = max(0.0, length)
        edge_sounds: list[EdgeSound] = []
        if len(parts) == 9 and ":" in parts[8]:  # some files put the hit sample right after the length
            parts = parts[:8] + ["", "", parts[8]]
        if len(parts) >= 9 and parts[8].strip():
            edge_sounds = [EdgeSound(hitsound=self.integer(v, "edgeSounds")) for v in parts[8].split("|")]
        if len(parts) >= 10 and parts[9].strip():
            sets = parts[9].split("|")
            while len(edge_sounds) < len(sets):
                edge_sounds.append(EdgeSound())
            for edge, pair in zip(edge_sounds, sets):
                normal, _, addition = pair.partition(":")
                edge.normal_set = self.integer(normal, "edgeSets") if normal.strip() else 0
                edge.addition_set = self.integer(addition, "edgeSets") if addition.strip() else 0
        if not edge_sounds:  # old files leave them out: every edge plays the object's own sound
            edge_sounds = [EdgeSound() for _ in range(slides + 1)]
        sample = self.hit_sample(parts[10]) if len(parts) >= 11 else HitSample()
        return Slider(**common, sample=sample, path=path, slides=slides, length=length, edge_sounds=edge_sounds)

    def curve_type(self, token: str) -> tuple[CurveType, int | None]:
        letter, degree_text = token[:1].upper(), token[1:]
        try:
            curve = CurveType(letter)
        except ValueError:
            raise self.error(f"unknown curve type {token[:10]!r}", "curve type") from None
        degree = None
        if degree_text:
            if not degree_text.isdigit() or curve is not CurveType.BEZIER:
                raise self.error(f"bad curve type {token[:10]!r}", "curve type")
            degree = int(degree_text)
        return curve, degree
