"""Timing and rhythm heard in the audio, for a model that cannot hear them itself (the bundled starter, or
any model with `--rhythm audio`): the red lines come from `models.timing.audio_timing` unless `--bpm` or
the reference's timing give them, and the object times are chosen among its rhythm candidates before
decoding; the `RhythmCandidates` decoding rule then holds the model's objects to those times.

How many candidates: as many of the strongest as make the requested star rating. The star rating of a
set of times is measured with rosu-pp (the ranked calculator) on a stand-in map of those times, laid out
as a plain map of that mode would be (osu!: circles jumping by the starter's mean jump, turning as they go,
mania: chords on the strongest onsets, columns in turn, taiko: don or kat by the sound under each note
(`models.audio.sound_height`, as a map whose model wrote one colour is coloured), catch: runs of
fruit, each move as long as the time since the last allows), and the count is found by bisection: stars
grow with the number of objects kept.
In mania a chord's further notes are ranked with the single notes (`ranked_notes`): the k-th note of a
chord counts as a note on an onset CHORD_DECAY**k as strong, so the strongest onsets get chords first,
as mania maps do (bigger chords only once every onset has its regular one), and the times come back once
per note (a time twice: a chord of two). In osu! and catch, when the rating asked is that of a Hard or
easier (SPREAD_BELOW_STARS), the strongest onsets no two closer than SPREAD_GAP_MS come first, then the rest
(`spread_first`): such a map lays down an even rhythm before it fills it in, while by strength alone a low
rating is reached with a few short bursts where the song is loudest and silence between (13 objects in the
README's 24 s clip at 3 stars). Harder maps take the strongest first, each onset's strength scaled down by how
close it lies to a stronger one (`bursts_later`): by strength alone a fast song's loud bursts reached 4 stars
with fewer objects than its Hard had (Battlecry, 256 BPM: 64 a minute at 4 stars against 140 at 3.99).
So the stars -> density relation is rosu-pp's own, measured on each song's
candidates; no map of any corpus is used, but to choose SPREAD_GAP_MS. The model then places the objects,
which moves the final rating (its positions, sliders, chords): `models.postprocess.star_fit` brings the
finished map back to the ask.
"""

from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass, replace

RHYTHM_AUDIO, RHYTHM_MODEL = "audio", "model"
# Profiles whose models are not trained to hear timing and rhythm in a real recording.
AUDIO_RHYTHM_PROFILES = frozenset({"starter"})
DEFAULT_STARS = 5.0  # asked when no star rating is given (the embedding's default in `embedding_inputs`)
# The starter's mean distance between consecutive objects (osu! px), measured on its map of the README's clip
# (tests/data/chaos_god, --difficulty 3): its positions, not the time between objects, set its jumps.
STARTER_JUMP_PX = 160.0
PLAYFIELD = (512, 384)
WALK_TURN = 2.0  # radians between a stand-in osu! map's steps: a zigzag that wanders over the playfield
# A mania chord's k-th further note ranks as a single note on an onset CHORD_DECAY**k as strong: a chord of
# two on an onset at least twice as strong as the weakest single note kept (a round value, not fitted).
CHORD_DECAY = 0.5
# The minimum gap (ms) between the objects `spread_first` puts first: about a beat at 200 BPM, the speed at which the stand-in's
# jumps still rate low. On Favorite Liar and Battlecry the densities then follow the corpus's real osu! maps by
# star rating (at 2.2 / 2.7 / 4 / 5.5 stars: 70-90 / 117-126 / 137-144 / 175-236 objects a minute; real maps
# of 2-3 stars: 110, 3-4: 148, 4-5: 197, 5-6: 247, medians); by strength alone 33-34 / 48-52 / 60-151 /
# 137-227. Further passes at 150 and 75 ms overshoot at 5.5 stars (245-270) and keep weaker onsets there.
SPREAD_GAP_MS = 300.0
# A stand-in catch map moves the fruit CATCH_MOVE_PX_PER_MS times the time since the last (at most a beat's),
# CATCH_RUN fruits one way, then back: half as fast again as osu!catch's dash (1 px/ms), so a long gap is a
# hyperdash and a stream a short dash. The densities it gives at a star rating follow real catch maps (the
# README clip at 2 / 3 / 4 / 4.5 / 5 / 5.5 stars: 85 / 152 / 195 / 210 / 240 / 288 fruits a minute; the
# corpus's catch maps of 2.6-2.8 stars: 129-176, 3.1-3.6: 180-248, 4.0-4.7: 134-289, 5.2-5.6: 232-276), and
# stay within 15 % of those for 1.25-2 px/ms and runs of 2-8. Fruits far apart by the old layout (across the
# plate every fruit: a hyperdash each) rated so fast that a catch map of 4 stars had 92 a minute.
CATCH_MOVE_PX_PER_MS = 1.5
CATCH_RUN = 4
CATCH_MARGIN_PX = 32.0
SPREAD_MODES = frozenset({0, 2})  # osu!, catch: the modes whose stand-in rating comes from moves between objects
# ... below this rating: the osu! website's Hard/Insane boundary. The ranking criteria restrict the rhythm of
# Easy, Normal and Hard difficulties (their gaps, their bursts) and leave Insane and harder free: there the
# strongest onsets lead, bursts after them (`bursts_later`). Objects a minute at 4 / 4.5 / 5 / 5.5 / 6 stars:
# Battlecry 148 / 152 / 163 / 189 / 195 (strongest first: 64 / 76 / 121 / 142 / 151; the even rhythm first at
# every rating: 140 / 146 / 152 / 178 / 189), Favorite Liar 173 / 202 / 224 / 239 / 268; rhythm F1 against the
# real maps at their own ratings of 4 stars and up (8 maps): median 0.674 (strongest first: 0.686, even first:
# 0.667), and against Battlecry's Normal at 5.5 stars 0.57 (0.52, 0.49).
SPREAD_BELOW_STARS = 4.0


@dataclass(frozen=True)
class TimedCandidate:
    """A rhythm candidate as this module needs it: a time (ms) and how strong its onset is."""

    time_ms: float
    strength: float


@dataclass(frozen=True)
class HeardRhythm:
    """The object times chosen, and every candidate's strength (for `models.postprocess.star_fit`, which
    drops the weakest when the finished map rates above the ask)."""

    times: list[float]  # absolute ms, sorted; in mania a time once per note of its chord
    strengths: dict[float, float]  # candidate time (ms) -> strength
    beat_ms: float = 500.0  # the main tempo's beat length (the red line that covers most of the song)


@dataclass(frozen=True)
class RhythmOptions:
    """What the heard rhythm is told by whoever asks for it (the pipeline fills it from its request)."""

    rhythm: str | None = None  # audio, model; None: by the profile
    stars: float | None = None  # the star rating the density follows (None: DEFAULT_STARS)
    gamemode: int = 0
    keycount: int = 4
    start_ms: float | None = None  # only candidates in this span
    end_ms: float | None = None
    playback_delay_ms: float = 0.0  # how much later osu! plays the audio's sounds (models.audio.playback_delay)


def uses_audio_rhythm(rhythm: str | None, profile) -> bool:
    """Whether the audio, not the model, gives the timing and the object times: `--rhythm`, else the profile."""
    if rhythm is None:
        rhythm = RHYTHM_AUDIO if profile.name in AUDIO_RHYTHM_PROFILES else RHYTHM_MODEL
    return rhythm == RHYTHM_AUDIO


def audio_rhythm(options: RhythmOptions, profile, vocab, audio, song_ms: float, sources, *, circle_size: float,
                 slider_multiplier: float) -> HeardRhythm | None:
    """The object times for the map pass, or None when the model keeps its own rhythm. Gives `sources` the
    audio timing first when nothing else gave one."""
    if not uses_audio_rhythm(options.rhythm, profile):
        return None
    from models.audio.loading import SAMPLE_RATE_HZ
    from models.generation.given_contexts import give_timing
    from models.timing.audio_timing import AudioTiming, analyse_timing
    from models.timing.fit import RedLine
    from models.timing.rhythm_candidates import rhythm_candidates, written_red_lines

    if sources.reference_timing:
        lines = [RedLine(offset=tp.time, ms_per_beat=tp.beat_length, meter=tp.meter)
                 for tp in sources.reference_timing if tp.uninherited and tp.beat_length > 0]
        if not lines:
            return None
        timing = AudioTiming(red_lines=lines, bpm=lines[0].bpm, offset_ms=lines[0].offset, candidates=[],
                             onsets=None)
    else:
        timing = analyse_timing(audio, SAMPLE_RATE_HZ, playback_delay_ms=options.playback_delay_ms)
        if timing is None or not timing.red_lines:
            return None  # no beat heard (silence): the model's own timing, as before
        # the red lines as the map will keep them (whole ms): the candidates are snapped to this very grid
        timing = replace(timing, red_lines=written_red_lines(timing.red_lines))
        give_timing(sources, [line.to_timing_point() for line in timing.red_lines], profile, vocab, song_ms)
    found = rhythm_candidates(audio, SAMPLE_RATE_HZ, timing)
    candidates = [TimedCandidate(c.time_ms, c.strength) for c in found
                  if (options.start_ms is None or c.time_ms >= options.start_ms)
                  and (options.end_ms is None or c.time_ms <= options.end_ms)]
    stars = options.stars if options.stars is not None else DEFAULT_STARS
    kats = None
    if options.gamemode == 1:  # taiko: each candidate's colour as the written map will get it (its sound)
        from models.audio.sound_height import high_sounding_times

        kats = high_sounding_times(audio, SAMPLE_RATE_HZ, [c.time_ms for c in candidates], options.playback_delay_ms)
    times = keep_for_stars(candidates, stars, gamemode=options.gamemode, keycount=options.keycount, kats=kats,
                           circle_size=circle_size, slider_multiplier=slider_multiplier,
                           ms_per_beat=timing.red_lines[0].ms_per_beat if timing.red_lines else 500.0)
    return HeardRhythm(times=times, strengths={c.time_ms: c.strength for c in candidates},
                       beat_ms=60_000.0 / timing.bpm if timing.bpm > 0 else 500.0)


def keep_for_stars(candidates: list[TimedCandidate], stars: float, *, gamemode: int = 0, keycount: int = 4,
                   circle_size: float = 4.0, slider_multiplier: float = 1.4, ms_per_beat: float = 500.0,
                   kats: set[float] | None = None) -> list[float]:
    """The times of the strongest candidates, as many as make a map of about `stars` (sorted by time; in mania a
    time comes once per note of its chord)."""
    ranked = ranked_notes(candidates, gamemode=gamemode, keycount=keycount)
    if gamemode in SPREAD_MODES:
        ranked = spread_first(ranked) if stars < SPREAD_BELOW_STARS else bursts_later(ranked)
    if not ranked:
        return []

    def rating(count: int) -> float:
        times = sorted(c.time_ms for c in ranked[:count])
        return stand_in_stars(times, gamemode=gamemode, keycount=keycount, circle_size=circle_size,
                              slider_multiplier=slider_multiplier, ms_per_beat=ms_per_beat, kats=kats)

    if rating(len(ranked)) <= stars:
        return sorted(c.time_ms for c in ranked)
    return sorted(c.time_ms for c in ranked[:count_for_stars(rating, stars, len(ranked))])


def count_for_stars(rating, stars: float, most: int) -> int:
    """The count in [1, most] whose `rating(count)` is nearest `stars`, by bisection: ratings grow with the count
    of objects kept (the strongest first), and `rating(most)` is above `stars`."""
    low, high = 1, most
    while high - low > 1:  # rating(low) < stars < rating(high), or low == 1
        middle = (low + high) // 2
        if rating(middle) < stars:
            low = middle
        else:
            high = middle
    return low if abs(rating(low) - stars) <= abs(rating(high) - stars) else high


def chord_sizes(keycount: int) -> tuple[int, int]:
    """(regular, most) notes a stand-in chord holds: up to half the keys (two in 4K, three in 7K) in turn with
    the single notes, and up to three quarters of them (three in 4K, five in 7K) only once every onset has
    its regular chord, for a song whose onsets are too few for the asked rating (never every column)."""
    return max(1, keycount // 2), max(1, (3 * keycount) // 4)


def note_priority(strength: float, note: int, *, gamemode: int = 0, keycount: int = 4) -> tuple[bool, float]:
    """How early the `note`-th object (0: the first) on an onset of `strength` is kept; larger is earlier."""
    regular, _ = chord_sizes(keycount) if gamemode == 3 else (1, 1)
    return note < regular, strength * CHORD_DECAY ** note


def ranked_notes(candidates: list[TimedCandidate], *, gamemode: int = 0, keycount: int = 4) -> list[TimedCandidate]:
    """Every object a stand-in map may hold, first kept first: one per candidate, and in mania each chord's
    further notes (`note_priority`)."""
    most = chord_sizes(keycount)[1] if gamemode == 3 else 1
    notes = [(note_priority(c.strength, k, gamemode=gamemode, keycount=keycount), c.time_ms)
             for c in candidates for k in range(most)]
    notes.sort(key=lambda n: (not n[0][0], -n[0][1], n[1]))
    return [TimedCandidate(time, priority[1]) for priority, time in notes]


def stand_in_stars(times: list[float], *, gamemode: int = 0, keycount: int = 4, circle_size: float = 4.0,
                   slider_multiplier: float = 1.4, ms_per_beat: float = 500.0, kats: set[float] | None = None) -> float:
    """rosu-pp's star rating of plain objects at `times`, laid out as the module docstring says."""
    import rosu_pp_py as rosu

    from tokenization.beatmap import Beatmap, Difficulty, GameMode, General, TimingPoint
    from tokenization.osu_writer import format_beatmap

    objects = stand_in_objects(times, gamemode=gamemode, keycount=keycount, slider_multiplier=slider_multiplier,
                               ms_per_beat=ms_per_beat, kats=kats)
    beatmap = Beatmap(general=General(mode=GameMode(gamemode)),
                      difficulty=Difficulty(circle_size=keycount if gamemode == 3 else circle_size,
                                            slider_multiplier=slider_multiplier),
                      timing_points=[TimingPoint(times[0] if times else 0.0, ms_per_beat, 4)], hit_objects=objects)
    try:
        return float(rosu.Difficulty().calculate(rosu.Beatmap(content=format_beatmap(beatmap))).stars)
    except Exception:  # noqa: BLE001 - rosu-pp's own errors: an unrated stand-in counts as no stars
        return 0.0


def stand_in_objects(times: list[float], *, gamemode: int = 0, keycount: int = 4, slider_multiplier: float = 1.4,
                     ms_per_beat: float = 500.0, catch_move_px_per_ms: float = CATCH_MOVE_PX_PER_MS,
                     kats: set[float] | None = None) -> list:
    """Plain objects at `times`, laid out as a plain map of the mode would be (see the module docstring); in
    taiko the times in `kats` are kats, the rest dons (without `kats`, don and kat in turn)."""
    from tokenization.beatmap import Circle

    objects = []
    x, y, direction = 256.0, 192.0, 0.0 if gamemode != 2 else 1.0
    for number, time in enumerate(times):
        if gamemode == 3:  # columns in turn: a chord's notes (the same time again) take the next columns
            keys = max(1, keycount)
            circle = Circle(int((number % keys + 0.5) * PLAYFIELD[0] / keys), 192, int(round(time)))
        elif gamemode == 1:
            circle = Circle(256, 192, int(round(time)))
            kat = time in kats if kats is not None else number % 2 == 1
            circle.hitsound = 8 if kat else 0  # clap: a kat
        elif gamemode == 2:  # runs of CATCH_RUN fruits one way then back, each move as long as its time allows
            if number:
                if number % CATCH_RUN == 0:
                    direction = -direction
                move = catch_move_px_per_ms * min(time - times[number - 1], ms_per_beat)
                if not CATCH_MARGIN_PX <= x + direction * move <= PLAYFIELD[0] - CATCH_MARGIN_PX:
                    direction = -direction  # the plate's edge: back the other way
                x = min(max(x + direction * move, CATCH_MARGIN_PX), PLAYFIELD[0] - CATCH_MARGIN_PX)
            circle = Circle(int(x), 192, int(round(time)))
        else:  # a walk of the starter's jumps turning by WALK_TURN each object, kept on the playfield
            if number:
                step = STARTER_JUMP_PX
                direction += WALK_TURN
                x, y = x + step * math.cos(direction), y + step * math.sin(direction)
                x, y = _fold_into(x, PLAYFIELD[0]), _fold_into(y, PLAYFIELD[1])
            circle = Circle(int(x), int(y), int(round(time)))
        circle.new_combo = gamemode != 3 and number % 8 == 0
        objects.append(circle)
    return objects


def _fold_into(value: float, size: float) -> float:
    """`value` reflected back into [0, size], as a walk bouncing off the playfield's edges."""
    period = 2 * size
    value = value % period
    return period - value if value > size else value


def bursts_later(ranked: list[TimedCandidate], gap_ms: float = SPREAD_GAP_MS) -> list[TimedCandidate]:
    """`ranked` (strongest first) reordered: each next candidate is the one whose strength times its distance to
    the nearest one already chosen, over `gap_ms` (at most 1), is largest. An onset with nothing chosen within
    `gap_ms` keeps its strength, a burst's further notes wait behind weaker onsets that stand alone and then fill
    in its largest holes first. Unlike `spread_first` nothing is held back outright, so the strongest onsets still
    lead and the density grows smoothly with the rating."""
    chosen: list[float] = []  # sorted times of the candidates chosen so far

    def priority(index: int) -> float:
        time = ranked[index].time_ms
        at = bisect.bisect_left(chosen, time)
        gap = min((abs(chosen[i] - time) for i in (at - 1, at) if 0 <= i < len(chosen)), default=gap_ms)
        return ranked[index].strength * min(1.0, gap / gap_ms)

    # lazy greedy: a priority only falls as more are chosen, so a popped one whose fresh priority still tops the
    # heap is the best (ties keep `ranked`'s order by index)
    heap = [(-c.strength, index) for index, c in enumerate(ranked)]
    heapq.heapify(heap)
    order: list[TimedCandidate] = []
    while heap:
        _, index = heapq.heappop(heap)
        fresh = priority(index)
        if heap and (-fresh, index) > heap[0]:
            heapq.heappush(heap, (-fresh, index))
            continue
        order.append(ranked[index])
        bisect.insort(chosen, ranked[index].time_ms)
    return order


def spread_first(ranked: list[TimedCandidate], gap_ms: float = SPREAD_GAP_MS) -> list[TimedCandidate]:
    """`ranked` (strongest first) reordered: first the candidates taken in turn where none taken so far lies
    within `gap_ms`, then the rest, each part in the order of `ranked`."""
    first: list[TimedCandidate] = []
    rest: list[TimedCandidate] = []
    taken: list[float] = []  # sorted times of `first`
    for candidate in ranked:
        index = bisect.bisect_left(taken, candidate.time_ms)
        if (index < len(taken) and taken[index] - candidate.time_ms < gap_ms) or (
                index > 0 and candidate.time_ms - taken[index - 1] < gap_ms):
            rest.append(candidate)
        else:
            taken.insert(index, candidate.time_ms)
            first.append(candidate)
    return first + rest
