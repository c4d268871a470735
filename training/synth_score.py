"""Scores for the synthetic dataset: a public-domain piece of the music21 corpus turned into notes in
milliseconds and the red lines (tempo and meter) they sit on.

The tempo is ours, not the score's: every song gets a quarter-note BPM drawn from the recipe (and maybe
one change at a bar line), so that the same piece yields songs at many tempos and the times of notes
and red lines follow from one exact piecewise-linear map from quarter lengths to milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

# Corpus folders of public-domain music (composers dead for centuries, traditional tunes). Modern
# pieces (Schoenberg, Webern), lead sheets of songs and the demo/exercise files are left out.
CORPUS_SOURCES = ("airdsAirs", "bach", "beethoven", "corelli", "essenFolksong", "handel", "haydn", "joplin",
                  "monteverdi", "mozart", "oneills1850", "palestrina", "ryansMammoth", "schubert", "trecento")
CORPUS_SUFFIXES = (".abc", ".krn", ".mxl", ".xml")
MAX_SCORE_BYTES = 200_000  # larger files take many seconds to parse; thousands of pieces remain


@dataclass(frozen=True)
class Note:
    time: float  # ms
    end: float  # ms
    pitch: int  # MIDI key
    velocity: int  # 1-127
    part: int  # 0 = the top part of the score


@dataclass(frozen=True)
class RedLine:
    time: float  # ms
    beat_length: float  # ms per beat
    meter: int  # beats per bar


@dataclass
class Song:
    piece: str  # the corpus path, relative to the corpus root
    title: str
    composer: str
    notes: list[Note]
    red_lines: list[RedLine]
    end: float  # ms: the end of the last bar used
    parts: int
    tempo: list[tuple[float, float]]  # (from ms, ms per quarter note) segments


def corpus_pieces() -> list[str]:
    """Every usable corpus file, relative to the corpus root, in a stable order."""
    from music21 import corpus

    found = []
    for path in corpus.getPaths():
        parts = path.parts
        if "corpus" not in parts or path.suffix not in CORPUS_SUFFIXES:
            continue
        relative = parts[parts.index("corpus") + 1:]
        if relative[0] in CORPUS_SOURCES and path.stat().st_size <= MAX_SCORE_BYTES:
            found.append("/".join(relative))
    return sorted(found)


def _beat_unit(numerator: int, denominator: int) -> tuple[Fraction, int]:
    """(beat length in quarter notes, beats per bar): compound meters (6/8, 9/8, 12/8) count dotted
    quarters, as mappers time them; other meters count the denominator's note."""
    unit = Fraction(4, denominator)
    if denominator >= 8 and numerator % 3 == 0 and numerator > 3:
        return unit * 3, numerator // 3
    return unit, numerator


class TempoMap:
    """Quarter lengths to ms: segments (start ql, start ms, ms per quarter), a change only at a bar line."""

    def __init__(self, lead_in_ms: float, start_ql: Fraction, ms_per_quarter: float):
        self.segments = [(start_ql, lead_in_ms, ms_per_quarter)]

    def change(self, at_ql: Fraction, ms_per_quarter: float) -> None:
        self.segments.append((at_ql, self.ms(at_ql), ms_per_quarter))

    def ms(self, ql: Fraction) -> float:
        start, base, per = self.segments[0]
        for segment in self.segments:
            if segment[0] <= ql:
                start, base, per = segment
        return base + float(ql - start) * per

    def per_quarter(self, ql: Fraction) -> float:
        per = self.segments[0][2]
        for start, _, segment_per in self.segments:
            if start <= ql:
                per = segment_per
        return per


def load_song(piece: str, rng, *, max_seconds: float, bpm_range: tuple[float, float],
              tempo_change_chance: float) -> Song | None:
    """The piece cut at the first bar line past `max_seconds`, at a tempo drawn from `rng`; None when the
    piece has no pitched notes or no time signature to time it by."""
    from music21 import corpus, meter, stream

    parsed = corpus.parse(piece)
    if isinstance(parsed, stream.Opus):  # abc collections hold many tunes; take one
        scores = list(parsed.scores)
        if not scores:
            return None
        parsed = scores[int(rng.integers(len(scores)))]
    parsed = parsed.stripTies()
    parts = list(parsed.parts) or [parsed]
    signatures = list(parts[0].recurse().getElementsByClass(meter.TimeSignature))
    if not signatures:
        return None
    first_measure = next(iter(parts[0].recurse().getElementsByClass(stream.Measure)), None)
    pickup = Fraction(first_measure.paddingLeft).limit_denominator(64) if first_measure is not None else 0
    # Bar lines: each time signature holds from its offset; the first bar starts `pickup` before 0.
    changes = []
    for signature in signatures:
        offset = Fraction(signature.getOffsetInHierarchy(parts[0])).limit_denominator(64)
        if changes and changes[-1][0] == offset:
            changes.pop()
        changes.append((offset, signature.numerator, signature.denominator))
    if any(n <= 0 or d <= 0 or d & (d - 1) for _, n, d in changes):
        return None

    ms_per_quarter = 60000.0 / float(rng.uniform(*bpm_range))
    lead_in = float(rng.uniform(500.0, 2000.0))
    start = -pickup
    tempo = TempoMap(lead_in, start, ms_per_quarter)
    change_at = None
    if rng.random() < tempo_change_chance:
        change_at = float(rng.uniform(0.3, 0.7))  # a fraction of the song, moved to the next bar line
        factor = float(rng.uniform(0.8, 1.25))

    red_lines, bar, index, end_ql = [], start, 0, None
    numerator, denominator = changes[0][1], changes[0][2]
    last_key = None
    limit_ms = lead_in + max_seconds * 1000.0
    while True:
        while index + 1 < len(changes) and changes[index + 1][0] <= bar:
            index += 1
            numerator, denominator = changes[index][1], changes[index][2]
        if change_at is not None and tempo.ms(bar) >= lead_in + change_at * max_seconds * 1000.0:
            tempo.change(bar, tempo.per_quarter(bar) / factor)
            change_at = None
        unit, beats = _beat_unit(numerator, denominator)
        bar_ql = Fraction(numerator * 4, denominator)
        key = (unit, beats, tempo.per_quarter(bar))
        if key != last_key:
            red_lines.append(RedLine(tempo.ms(bar), float(unit) * key[2], beats))
            last_key = key
        bar += bar_ql
        if tempo.ms(bar) > limit_ms or bar > _score_end(parsed):
            end_ql = bar
            break

    notes = []
    velocity_scale = [float(rng.uniform(0.6, 1.1)) for _ in parts]  # mix: each part's level
    for number, part in enumerate(parts):
        for element in part.flatten().notes:
            if element.duration.isGrace or element.quarterLength <= 0:
                continue
            onset = Fraction(element.offset).limit_denominator(192)
            if onset >= end_ql:
                continue
            stop = min(onset + Fraction(element.quarterLength).limit_denominator(192), end_ql)
            base = element.volume.velocity if element.volume.velocity is not None else 80
            velocity = max(1, min(127, round(base * velocity_scale[number])))
            for pitch in getattr(element, "pitches", ()):
                notes.append(Note(tempo.ms(onset), tempo.ms(stop), int(pitch.midi), velocity, number))
    if not notes:
        return None
    notes.sort(key=lambda n: (n.time, n.part, n.pitch))
    meta = parsed.metadata
    title = (meta.title if meta is not None and meta.title else piece.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    composer = meta.composer if meta is not None and meta.composer else "Traditional"
    return Song(piece, str(title), str(composer), notes, red_lines, tempo.ms(end_ql), len(parts),
                [(ms, per) for _, ms, per in tempo.segments])


def _score_end(score) -> Fraction:
    return Fraction(score.highestTime).limit_denominator(192)


def snap_error(time: float, red_lines: list[RedLine], divisor: int = 48) -> float:
    """How far (ms) `time` lies from the nearest 1/`divisor` beat tick of its red line (48 holds the
    divisors 1-16 and the triplets): what a test uses to check that objects sit on the timing."""
    line = red_lines[0]
    for candidate in red_lines:
        if candidate.time <= time + 1e-6:
            line = candidate
    step = line.beat_length / divisor
    position = (time - line.time) / step
    return abs(position - math.floor(position + 0.5)) * step
