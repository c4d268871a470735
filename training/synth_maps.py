"""Beatmaps for a synthetic song, written from its exact note times and red lines, in all four modes.

Each mode gets two difficulties: "Full" (every distinct onset of every part) and an easier one:
"Melody" (the top part's onsets) for a score of several parts, "Beats" (the onsets on a beat) for a
tune of one part, whose melody is all of it. Objects are placed by simple rules, since the dataset exists to teach timing from
audio: osu! and catch walk the playfield at a speed that follows the time gap, taiko picks don or kat
from pitch, mania picks columns from pitch. Long notes become sliders (osu!) or hold notes (mania).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokenization.beatmap import (
    Beatmap,
    Circle,
    CurveType,
    Difficulty,
    GameMode,
    General,
    HitObject,
    HoldNote,
    Metadata,
    PathPoint,
    Slider,
    TimingPoint,
)
from training.synth_score import RedLine, Song

TAGS = ["synthetic", "ai-free", "mapper-synth", "music21"]  # what marks a map as made by this recipe
CREATOR = "mapper synth"
MODE_LABELS = {GameMode.OSU: "osu!", GameMode.TAIKO: "Taiko", GameMode.CATCH: "Catch", GameMode.MANIA: "Mania"}
SLIDER_MULTIPLIER = 1.4
WHISTLE, FINISH, CLAP = 2, 4, 8


@dataclass(frozen=True)
class Onset:
    time: int  # ms, rounded as .osu files store object times
    exact: float  # ms
    pitch: float  # mean MIDI key of the notes starting here
    velocity: int  # the loudest
    beats: float  # the longest note's length in beats of its red line


def _line_at(lines: list[RedLine], time: float) -> RedLine:
    found = lines[0]
    for line in lines:
        if line.time <= time + 1e-6:
            found = line
    return found


def _on_beat(lines: list[RedLine], time: float) -> bool:
    line = _line_at(lines, time)
    position = (time - line.time) / line.beat_length
    return abs(position - round(position)) * line.beat_length < 1.0


def onsets(song: Song, level: str) -> list[Onset]:
    """Distinct onsets (notes starting within the same ms are one): all of them ("Full"), the top part's
    ("Melody") or those on a beat ("Beats")."""
    groups: dict[int, list] = {}
    for note in song.notes:
        if level == "Full" or (level == "Melody" and note.part == 0) or \
                (level == "Beats" and _on_beat(song.red_lines, note.time)):
            groups.setdefault(round(note.time), []).append(note)
    found = []
    for time in sorted(groups):
        notes = groups[time]
        line = _line_at(song.red_lines, notes[0].time)
        longest = max(n.end - n.time for n in notes)
        found.append(Onset(time, notes[0].time, sum(n.pitch for n in notes) / len(notes),
                           max(n.velocity for n in notes), longest / line.beat_length))
    return found


def _bar_index(lines: list[RedLine], time: float) -> tuple[int, int]:
    line = _line_at(lines, time)
    return lines.index(line), math.floor((time - line.time) / (line.beat_length * line.meter) + 1e-6)


def _with_combos(objects: list[HitObject], lines: list[RedLine]) -> list[HitObject]:
    """A new combo at the first object of every bar."""
    last = None
    for obj in objects:
        bar = _bar_index(lines, obj.time)
        obj.new_combo = bar != last
        last = bar
    return objects


def _playfield_walk(found: list[Onset], song: Song, rng, sliders: bool) -> list[HitObject]:
    """osu!: move by a distance that grows with the time gap, turning a little each step, bouncing off
    the playfield's edges; a note held a beat or more (with room before the next) becomes a slider."""
    x, y, angle = 256.0, 192.0, float(rng.uniform(0, 2 * math.pi))
    spacing = float(rng.uniform(0.12, 0.25))  # px per ms of gap
    objects: list[HitObject] = []
    for index, onset in enumerate(found):
        if index:
            gap = onset.exact - found[index - 1].exact
            step = min(max(gap * spacing, 30.0), 220.0)
            angle += float(rng.uniform(-1.2, 1.2))
            x, y, angle = _bounce(x + step * math.cos(angle), y + step * math.sin(angle), angle)
        line = _line_at(song.red_lines, onset.exact)
        following = found[index + 1].exact if index + 1 < len(found) else math.inf
        beats = min(math.floor(onset.beats * 2) / 2, 2.0)  # whole half beats, at most two
        if sliders and beats >= 1 and onset.exact + (beats + 0.5) * line.beat_length <= following:
            length = 100 * SLIDER_MULTIPLIER * beats
            dx, dy = math.cos(angle), math.sin(angle)
            end_x, end_y = x + dx * length, y + dy * length
            if not (0 <= end_x <= 512 and 0 <= end_y <= 384):  # turn towards the centre to stay inside
                toward = math.atan2(192 - y, 256 - x)
                dx, dy, angle = math.cos(toward), math.sin(toward), toward
                end_x, end_y = x + dx * length, y + dy * length
            objects.append(Slider(round(x), round(y), onset.time, path=[
                PathPoint(round(x), round(y), CurveType.LINEAR), PathPoint(round(end_x), round(end_y))],
                slides=1, length=length))
            x, y = end_x, end_y
        else:
            objects.append(Circle(round(x), round(y), onset.time))
    return objects


def _bounce(x: float, y: float, angle: float) -> tuple[float, float, float]:
    margin_x, margin_y = (32.0, 480.0), (32.0, 352.0)
    if not margin_x[0] <= x <= margin_x[1]:
        x = min(max(2 * margin_x[0] - x, margin_x[0]), margin_x[1]) if x < margin_x[0] else \
            max(min(2 * margin_x[1] - x, margin_x[1]), margin_x[0])
        angle = math.pi - angle
    if not margin_y[0] <= y <= margin_y[1]:
        y = min(max(2 * margin_y[0] - y, margin_y[0]), margin_y[1]) if y < margin_y[0] else \
            max(min(2 * margin_y[1] - y, margin_y[1]), margin_y[0])
        angle = -angle
    return x, y, angle


def _catch(found: list[Onset], rng) -> list[HitObject]:
    """Fruits whose x walks left and right, further for longer gaps."""
    x, direction = float(rng.uniform(64, 448)), 1.0 if rng.random() < 0.5 else -1.0
    spacing = float(rng.uniform(0.1, 0.3))
    objects = []
    for index, onset in enumerate(found):
        if index:
            if rng.random() < 0.3:
                direction = -direction
            x += direction * min((onset.exact - found[index - 1].exact) * spacing, 200.0)
            if not 16 <= x <= 496:
                direction = -direction
                x = min(max(x, 16.0), 496.0)
        objects.append(Circle(round(x), 192, onset.time))
    return objects


def _taiko(found: list[Onset], median_pitch: float, loud: int) -> list[HitObject]:
    """Don below the song's median pitch, kat above; a finisher on the loudest notes."""
    objects = []
    for onset in found:
        sound = (CLAP if onset.pitch > median_pitch else 0) | (FINISH if onset.velocity >= loud else 0)
        objects.append(Circle(256, 192, onset.time, hitsound=sound))
    return objects


def _mania(found: list[Onset], song: Song, keys: int, low: float, high: float) -> list[HitObject]:
    """Column from pitch (low notes left); a note held a beat or more becomes a hold note. A column is
    busy until its hold ends: the note goes to the nearest free column, or is left out."""
    busy_until = [-math.inf] * keys
    objects: list[HitObject] = []
    for onset in found:
        wanted = min(keys - 1, int((onset.pitch - low) / (high - low + 1) * keys))
        free = [c for c in sorted(range(keys), key=lambda c: abs(c - wanted)) if busy_until[c] < onset.time]
        if not free:
            continue
        column = free[0]
        x = math.floor((column + 0.5) * 512 / keys)
        line = _line_at(song.red_lines, onset.exact)
        beats = math.floor(onset.beats * 4) / 4
        if beats >= 1:
            end = round(onset.exact + beats * line.beat_length)
            objects.append(HoldNote(x, 192, onset.time, hold_end=end))
            busy_until[column] = end
        else:
            objects.append(Circle(x, 192, onset.time))
            busy_until[column] = onset.time
    return objects


def song_beatmaps(song: Song, rng, audio_file: str, keys: int) -> list[Beatmap]:
    """Eight maps: each mode at Full density and at Melody (several parts) or Beats (one part)."""
    pitches = sorted(n.pitch for n in song.notes)
    median, low, high = pitches[len(pitches) // 2], pitches[0], pitches[-1]
    velocities = sorted(n.velocity for n in song.notes)
    loud = velocities[int(0.9 * (len(velocities) - 1))] + 1  # the loudest tenth, never all notes
    timing = [TimingPoint(line.time, line.beat_length, line.meter, sample_set=2, volume=70) for line in song.red_lines]
    maps = []
    for level in ("Full", "Melody" if song.parts > 1 else "Beats"):
        easy = level != "Full"
        found = onsets(song, level)
        if not found:
            continue
        per_mode = {
            GameMode.OSU: _playfield_walk(found, song, rng, sliders=True),
            GameMode.TAIKO: _taiko(found, median, loud),
            GameMode.CATCH: _catch(found, rng),
            GameMode.MANIA: _mania(found, song, keys, low, high),
        }
        for mode, objects in per_mode.items():
            if mode != GameMode.MANIA:
                objects = _with_combos(objects, song.red_lines)
            difficulty = Difficulty(hp_drain_rate=5 if easy else 6, overall_difficulty=6 if easy else 8,
                                    approach_rate=7 if easy else 9, slider_multiplier=SLIDER_MULTIPLIER,
                                    circle_size=keys if mode == GameMode.MANIA else 4)
            maps.append(Beatmap(
                general=General(audio_filename=audio_file, mode=mode, sample_set="Soft",
                                preview_time=found[len(found) // 3].time),
                metadata=Metadata(title=song.title, title_unicode=song.title, artist=song.composer,
                                  artist_unicode=song.composer, creator=CREATOR,
                                  version=f"{MODE_LABELS[mode]} {level}", source="music21 corpus",
                                  tags=[*TAGS, "piece:" + song.piece.replace(" ", "_")]),
                difficulty=difficulty, timing_points=list(timing), hit_objects=objects))
    return maps
