"""Super timing: many timing passes over shifted audio, combined by voting.

Each pass is the list of beat markers the model wrote for the song with a random offset, already
shifted back to song time. The passes vote into per-millisecond histograms; peaks of the smoothed
vote are candidate beats, each with the tempo most passes agree on near it. A walk from the
strongest peaks outwards, one beat period at a time, turns the peaks into a regular beat grid
(filling beats where the model missed one); the measure phase comes from the measure votes. The
result is a marker list for `timing_fit.fit_timing`.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from models.timing.fit import BeatMarker, MarkerKind

SMOOTHING_SIGMA_MS = 10.0
VOTE_SCALE = 50.0  # votes per pass are scaled so that a unanimous beat peaks near 2
MIN_PEAK_DISTANCE_MS = 50
PEAK_PROMINENCE = 0.1
PEAK_WIDTH_MS = 2
PEAK_WINDOW_MS = 50
TEMPO_RADIUS_MS = 200  # intervals recorded this close to a peak vote for its tempo
TICK_MS = 10  # tempo votes are binned by ms-per-beat in 10 ms ticks
MIN_TICKS, MAX_TICKS = 20, 100  # 300 BPM .. 60 BPM
SNAP_LOSS = 60.0  # |peak - expected| / prominence below which the walk snaps to a peak
HANDOVER_LOSS = 300.0  # below this, a peak with its own tempo ends the walk
PROCESSED_MARGIN_MS = 200
TYPE_RADIUS_MS = 10
MEASURE_PHASE_SPAN = 3  # bars either side used to score a measure phase


@dataclass
class TimingVotes:
    song_length_ms: int
    passes: int = 0
    beats: np.ndarray = field(init=False)
    measures: np.ndarray = field(init=False)
    timing_points: np.ndarray = field(init=False)
    intervals: list[tuple[float, int]] = field(default_factory=list)  # (time, ms-per-beat in ticks)
    measure_lengths: list[int] = field(default_factory=list)  # beats per bar seen

    def __post_init__(self):
        size = max(1, int(self.song_length_ms) + 1)
        self.beats = np.zeros(size)
        self.measures = np.zeros(size)
        self.timing_points = np.zeros(size)

    def add_pass(self, markers: list[BeatMarker]) -> None:
        """One pass's markers, in song time (the pass's audio offset already taken back)."""
        self.passes += 1
        histogram = {MarkerKind.BEAT: self.beats, MarkerKind.MEASURE: self.measures,
                     MarkerKind.TIMING_POINT: self.timing_points}
        beats_in_bar = 0
        previous: BeatMarker | None = None
        for marker in sorted(markers, key=lambda m: m.time):
            index = int(round(marker.time))
            if not 0 <= index < len(self.beats):
                continue
            histogram[marker.kind][index] += 1
            if marker.kind is MarkerKind.MEASURE:
                if beats_in_bar:
                    self.measure_lengths.append(beats_in_bar)
                beats_in_bar = 1
            elif marker.kind is MarkerKind.TIMING_POINT:
                beats_in_bar = 1
            else:
                beats_in_bar += 1
            if previous is not None and marker.time != previous.time:
                # An interval into a new red line says nothing about the old tempo.
                if not (marker.kind is MarkerKind.TIMING_POINT and previous.kind is not MarkerKind.TIMING_POINT):
                    ticks = int((marker.time - previous.time) // TICK_MS)
                    if MIN_TICKS < ticks < MAX_TICKS:
                        self.intervals.append((marker.time, ticks))
            previous = marker


@dataclass(frozen=True)
class _Peak:
    time: float
    prominence: float
    ms_per_beat: float | None


def vote_beats(votes: TimingVotes, tempo_threshold: float = 0.1) -> list[BeatMarker]:
    """The beat grid the passes agree on, with beat/measure/timing-point kinds."""
    if votes.passes == 0:
        return []
    scale = VOTE_SCALE / votes.passes
    smooth = {name: gaussian_filter1d(getattr(votes, name), SMOOTHING_SIGMA_MS, mode="constant") * scale
              for name in ("beats", "measures", "timing_points")}
    signal = smooth["beats"] + smooth["measures"] + 2 * smooth["timing_points"]
    peaks = _find_peaks(signal, votes, tempo_threshold)
    if not peaks:
        return []
    beat_times = _walk_beats(peaks, votes.song_length_ms)
    return _assign_kinds(beat_times, smooth, votes.measure_lengths)


def _find_peaks(signal: np.ndarray, votes: TimingVotes, tempo_threshold: float) -> list[_Peak]:
    index, props = find_peaks(signal, distance=MIN_PEAK_DISTANCE_MS, prominence=PEAK_PROMINENCE,
                              width=PEAK_WIDTH_MS, wlen=PEAK_WINDOW_MS, rel_height=1)
    if len(index) == 0:
        return []
    interval_times = np.array([t for t, _ in votes.intervals]) if votes.intervals else np.zeros(0)
    interval_ticks = np.array([k for _, k in votes.intervals], dtype=np.int64) if votes.intervals else np.zeros(0, int)
    tempos: list[float | None] = []
    for time in index:
        near = interval_ticks[np.abs(interval_times - time) <= TEMPO_RADIUS_MS]
        counts = np.bincount(near, minlength=MAX_TICKS)[MIN_TICKS:MAX_TICKS] if len(near) else np.zeros(1)
        top = int(np.argmax(counts))
        if counts.sum() > 0 and counts[top] > tempo_threshold * counts.sum():
            tempos.append((top + MIN_TICKS) * TICK_MS)
        else:
            tempos.append(None)
    median_mpb = (float(np.median(interval_ticks)) * TICK_MS) if len(interval_ticks) else None
    tempos = [_fold_towards(t, median_mpb) for t in tempos]
    tempos = _fill_missing(tempos, median_mpb)
    return [_Peak(float(t), float(p), m) for t, p, m in zip(index, props["prominences"], tempos)]


def _fold_towards(ms_per_beat: float | None, median_mpb: float | None) -> float | None:
    """Halve or double a tempo (by whole factors) until it lies within 1.5x of the song's median tempo."""
    if ms_per_beat is None or median_mpb is None:
        return ms_per_beat
    bpm, median_bpm = 60000.0 / ms_per_beat, 60000.0 / median_mpb
    bpm /= math.ceil(bpm / (1.5 * median_bpm))
    bpm *= math.ceil((median_bpm / 1.5) / bpm)
    return 60000.0 / bpm


def _fill_missing(tempos: list[float | None], default: float | None) -> list[float | None]:
    known = [i for i, t in enumerate(tempos) if t is not None]
    if not known:
        return [default] * len(tempos)
    filled = []
    for i, tempo in enumerate(tempos):
        if tempo is None:
            nearest = min(known, key=lambda j: (abs(j - i), j))  # the left neighbour wins ties
            tempo = tempos[nearest]
        filled.append(tempo)
    return filled


def _walk_beats(peaks: list[_Peak], song_length_ms: int) -> list[float]:
    """From the most prominent peaks outwards, one period at a time, snapping to peaks that fit."""
    times = np.array([p.time for p in peaks])
    queue = [(-p.prominence, i) for i, p in enumerate(peaks)]
    heapq.heapify(queue)
    processed: list[tuple[float, float]] = []
    beats: list[float] = []

    def inside_processed(t: float) -> bool:
        return any(a <= t <= b for a, b in processed)

    while queue:
        _, start = heapq.heappop(queue)
        if inside_processed(peaks[start].time) or peaks[start].ms_per_beat is None:
            continue
        walked = [peaks[start].time]
        for direction in (1, -1):
            time, period = peaks[start].time, peaks[start].ms_per_beat
            while True:
                expected = time + direction * period
                if not 0 <= expected <= song_length_ms or inside_processed(expected):
                    break
                near = np.flatnonzero(np.abs(times - expected) < period / 2)
                best = min(near, key=lambda j: abs(times[j] - expected) / peaks[j].prominence, default=None)
                loss = abs(times[best] - expected) / peaks[best].prominence if best is not None else math.inf
                if loss < SNAP_LOSS:
                    time = float(times[best])
                    period = peaks[best].ms_per_beat or period
                elif loss < HANDOVER_LOSS and peaks[best].ms_per_beat not in (None, period):
                    break  # another tempo region starts here; its own walk will cover it
                else:
                    time = expected
                walked.append(time)
        processed.append((min(walked) - PROCESSED_MARGIN_MS, max(walked) + PROCESSED_MARGIN_MS))
        beats.extend(walked)
    return sorted(set(round(b, 3) for b in beats))


def _assign_kinds(beat_times: list[float], smooth: dict[str, np.ndarray], measure_lengths: list[int]) -> list[BeatMarker]:
    def mass(name: str, t: float) -> float:
        a, b = max(0, int(t) - TYPE_RADIUS_MS), int(t) + TYPE_RADIUS_MS + 1
        return float(smooth[name][a:b].max(initial=0.0))

    is_red = [mass("timing_points", t) > max(mass("beats", t), mass("measures", t))
              and mass("timing_points", t) + mass("beats", t) + mass("measures", t) > 1 for t in beat_times]
    meter = int(np.median(measure_lengths)) if measure_lengths else 4
    meter = max(1, meter)
    downbeat_mass = [mass("measures", t) + mass("timing_points", t) for t in beat_times]
    kinds: list[MarkerKind] = []
    cooldown = 0
    for i, _ in enumerate(beat_times):
        if is_red[i]:
            kinds.append(MarkerKind.TIMING_POINT)
            cooldown = meter - 1
            continue
        if cooldown > 0:
            kinds.append(MarkerKind.BEAT)
            cooldown -= 1
            continue
        if cooldown < 0:
            cooldown += 1
            kinds.append(MarkerKind.MEASURE if cooldown == 0 else MarkerKind.BEAT)
            if cooldown == 0:
                cooldown = meter - 1
            continue
        scores = []
        for phase in range(meter):
            picks = [downbeat_mass[j] for j in (i + phase + bar * meter for bar in
                                                 range(-MEASURE_PHASE_SPAN, MEASURE_PHASE_SPAN + 1))
                     if 0 <= j < len(beat_times)]
            scores.append(sum(picks) / len(picks) if picks else 0.0)
        best = int(np.argmax(scores))
        if best == 0:
            kinds.append(MarkerKind.MEASURE)
            cooldown = meter - 1
        else:
            kinds.append(MarkerKind.BEAT)
            cooldown = -best  # the downbeat is `best` beats ahead
    return [BeatMarker(t, k) for t, k in zip(beat_times, kinds)]
