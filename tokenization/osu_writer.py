"""Writing a `Beatmap` as a v14 `.osu` file that osu! stable and lazer import.

A beatmap read from an older file keeps that file's version number in the header (with v14
syntax, which stable reads for every version): stacking and timing rules depend on it, so the
game and star-rating tools treat the written file exactly as the original. Times of files before
v5 are written back without the +24 ms the reader added. New and lazer (v128) beatmaps are v14.

Numbers are written locale-independently: integers without a decimal point, other values in
their shortest round-trip form, never in exponent notation. Sections come in the standard
order, UTF-8 without BOM, CRLF line endings as stable writes them. lazer-only data is kept as
it is: fractional coordinates and mid-path curve-type letters (lazer reads both in any version;
stable truncates the coordinates) so that nothing read from a v128 file is lost.
"""

from __future__ import annotations

import copy
import os
from decimal import Decimal
from pathlib import Path

from tokenization.atomic_files import (
    write_atomic,
    write_fresh,
    write_text_atomic,  # noqa: F401 - imported from here by other modules
)
from tokenization.beatmap import (
    LATEST_STABLE_VERSION,
    Beatmap,
    Circle,
    EdgeSound,
    HitObject,
    HitSample,
    HoldNote,
    PathPoint,
    Slider,
    Spinner,
    TimingPoint,
)
from tokenization.osu_reader import (
    COMBO_SKIP_SHIFT,
    EARLY_VERSION_LIMIT,
    EARLY_VERSION_TIMING_OFFSET_MS,
    TYPE_CIRCLE,
    TYPE_HOLD,
    TYPE_NEW_COMBO,
    TYPE_SLIDER,
    TYPE_SPINNER,
    shift_times,
)
from tokenization.safe_text import one_line

LINE_END = "\r\n"


def fmt(value: float | int) -> str:
    """Locale-free number: `12`, `0.25`, `-1.5`, `0.00001` (never `1e-05`)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if value != value:  # NaN (only on green-line beat lengths)
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def output_version(beatmap: Beatmap) -> int:
    return beatmap.format_version if 3 <= beatmap.format_version < LATEST_STABLE_VERSION else LATEST_STABLE_VERSION


def format_beatmap(beatmap: Beatmap) -> str:
    version = output_version(beatmap)
    if version < EARLY_VERSION_LIMIT:
        beatmap = copy.deepcopy(beatmap)
        shift_times(beatmap, -EARLY_VERSION_TIMING_OFFSET_MS)
    sections = [
        f"osu file format v{version}",
        "",
        *_general(beatmap),
        "",
        *_editor(beatmap),
        "",
        *_metadata(beatmap),
        "",
        *_difficulty(beatmap),
        "",
        *_events(beatmap),
        "",
        "[TimingPoints]",
        *(_timing_point(tp) for tp in beatmap.timing_points),
        "",
    ]
    if beatmap.combo_colours or beatmap.extra_colours:
        sections += [*_colours(beatmap), ""]
    sections += ["[HitObjects]", *(_hit_object(obj) for obj in beatmap.hit_objects)]
    return LINE_END.join(sections) + LINE_END


def write_beatmap(beatmap: Beatmap, path: str | os.PathLike, *, overwrite: bool = False,
                  new_name_if_taken: bool = False) -> Path:
    """Write atomically (temporary file, then one step to the final name) and return the path written.

    An existing file is replaced only with `overwrite`; with `new_name_if_taken` the map goes to the
    first free name `path`, `stem (2).osu`, ... (reserved atomically: two runs never share one);
    otherwise a taken name raises FileExistsError."""
    path = Path(path)
    text = format_beatmap(beatmap)

    def fill(temp: Path) -> None:
        with open(temp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)

    if new_name_if_taken and not overwrite:
        return write_fresh(path.parent, path.stem, path.suffix, fill)
    return write_atomic(path, fill, overwrite=overwrite)


def _general(bm: Beatmap) -> list[str]:
    g = bm.general
    lines = ["[General]", f"AudioFilename: {one_line(g.audio_filename)}", f"AudioLeadIn: {g.audio_lead_in}",
             f"PreviewTime: {fmt(g.preview_time)}", f"Countdown: {g.countdown}", f"SampleSet: {g.sample_set}",
             f"StackLeniency: {fmt(g.stack_leniency)}", f"Mode: {int(g.mode)}",
             f"LetterboxInBreaks: {fmt(g.letterbox_in_breaks)}"]
    if g.special_style:
        lines.append("SpecialStyle: 1")
    lines.append(f"WidescreenStoryboard: {fmt(g.widescreen_storyboard)}")
    if g.epilepsy_warning:
        lines.append("EpilepsyWarning: 1")
    if g.samples_match_playback_rate:
        lines.append("SamplesMatchPlaybackRate: 1")
    lines += [f"{key}: {value}" for key, value in g.extra.items()]
    return lines


def _editor(bm: Beatmap) -> list[str]:
    e = bm.editor
    lines = ["[Editor]"]
    if e.bookmarks:
        lines.append("Bookmarks: " + ",".join(str(b) for b in e.bookmarks))
    lines += [f"DistanceSpacing: {fmt(e.distance_spacing)}", f"BeatDivisor: {e.beat_divisor}",
              f"GridSize: {e.grid_size}", f"TimelineZoom: {fmt(e.timeline_zoom)}"]
    lines += [f"{key}: {value}" for key, value in e.extra.items()]
    return lines


def _metadata(bm: Beatmap) -> list[str]:
    m = bm.metadata
    fields = [("Title", m.title), ("TitleUnicode", m.title_unicode), ("Artist", m.artist),
              ("ArtistUnicode", m.artist_unicode), ("Creator", m.creator), ("Version", m.version),
              ("Source", m.source), ("Tags", " ".join(m.tags))]
    # one line each whatever was asked: a newline in --title would start sections of its own
    return ["[Metadata]", *(f"{key}:{one_line(str(value))}" for key, value in fields),
            f"BeatmapID:{m.beatmap_id}", f"BeatmapSetID:{m.beatmap_set_id}"]


def _difficulty(bm: Beatmap) -> list[str]:
    d = bm.difficulty
    return ["[Difficulty]", f"HPDrainRate:{fmt(d.hp_drain_rate)}", f"CircleSize:{fmt(d.circle_size)}",
            f"OverallDifficulty:{fmt(d.overall_difficulty)}", f"ApproachRate:{fmt(d.approach_rate)}",
            f"SliderMultiplier:{fmt(d.slider_multiplier)}", f"SliderTickRate:{fmt(d.slider_tick_rate)}"]


def _events(bm: Beatmap) -> list[str]:
    ev = bm.events
    lines = ["[Events]", "//Background and Video events"]
    if ev.background is not None:
        x, y = ev.background_offset
        lines.append(f'0,0,"{one_line(ev.background)}",{x},{y}')
    if ev.video is not None:
        x, y = ev.video_offset
        lines.append(f'Video,{ev.video_start},"{one_line(ev.video)}",{x},{y}')
    lines.append("//Break Periods")
    lines += [f"2,{fmt(b.start)},{fmt(b.end)}" for b in ev.breaks]
    lines += ev.other_lines
    return lines


def _timing_point(tp: TimingPoint) -> str:
    return ",".join([fmt(tp.time), fmt(tp.beat_length), str(tp.meter), str(tp.sample_set), str(tp.sample_index),
                     str(tp.volume), "1" if tp.uninherited else "0", str(tp.effects)])


def _colours(bm: Beatmap) -> list[str]:
    lines = ["[Colours]"]
    lines += [f"Combo{i + 1} : {r},{g},{b}" for i, (r, g, b) in enumerate(bm.combo_colours)]
    lines += [f"{key} : {r},{g},{b}" for key, (r, g, b) in bm.extra_colours.items()]
    return lines


def _sample(sample: HitSample) -> str:
    return f"{sample.normal_set}:{sample.addition_set}:{sample.index}:{sample.volume}:{sample.filename}"


def _type_bits(obj: HitObject, kind: int) -> int:
    bits = kind | (obj.combo_skip << COMBO_SKIP_SHIFT)
    if obj.new_combo:
        bits |= TYPE_NEW_COMBO
    return bits


def _curve(path: list[PathPoint]) -> str:
    head = path[0]
    parts = [_curve_letter(head)]
    for point in path[1:]:
        parts.append(f"{fmt(point.x)}:{fmt(point.y)}")
        if point.type is not None:
            parts.append(_curve_letter(point))
    return "|".join(parts)


def _curve_letter(point: PathPoint) -> str:
    letter = point.type.value if point.type is not None else "B"
    return letter + (str(point.degree) if point.degree is not None else "")


def _hit_object(obj: HitObject) -> str:
    head = f"{fmt(obj.x)},{fmt(obj.y)},{fmt(obj.time)}"
    if isinstance(obj, Slider):
        edges = obj.edge_sounds or [EdgeSound() for _ in range(obj.slides + 1)]
        return ",".join([head, str(_type_bits(obj, TYPE_SLIDER)), str(obj.hitsound), _curve(obj.path),
                         str(obj.slides), fmt(obj.length), "|".join(str(e.hitsound) for e in edges),
                         "|".join(f"{e.normal_set}:{e.addition_set}" for e in edges), _sample(obj.sample)])
    if isinstance(obj, Spinner):
        return ",".join([head, str(_type_bits(obj, TYPE_SPINNER)), str(obj.hitsound), fmt(obj.spinner_end),
                         _sample(obj.sample)])
    if isinstance(obj, HoldNote):
        return ",".join([head, str(_type_bits(obj, TYPE_HOLD)), str(obj.hitsound),
                         f"{fmt(obj.hold_end)}:{_sample(obj.sample)}"])
    if isinstance(obj, Circle):
        return ",".join([head, str(_type_bits(obj, TYPE_CIRCLE)), str(obj.hitsound), _sample(obj.sample)])
    raise TypeError(f"cannot write hit object of type {type(obj).__name__}")
