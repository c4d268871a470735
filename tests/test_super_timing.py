"""Super timing's voting recovers the beat grid from noisy, imperfect passes."""

from __future__ import annotations

import numpy as np

from models.timing.fit import BeatMarker, MarkerKind, fit_timing
from models.timing.super_timing import TimingVotes, vote_beats


def noisy_pass(rng, offset, bpm, length_ms, meter=4, jitter=5.0, drop=0.1, extra=0.05, start_beat=0):
    mpb = 60000 / bpm
    markers = []
    k = start_beat
    while offset + k * mpb < length_ms:
        t = offset + k * mpb
        if rng.random() > drop:
            kind = MarkerKind.MEASURE if k % meter == 0 else MarkerKind.BEAT
            markers.append(BeatMarker(t + rng.uniform(-jitter, jitter), kind))
        if rng.random() < extra:  # a spurious half beat
            markers.append(BeatMarker(t + mpb / 2, MarkerKind.BEAT))
        k += 1
    return markers


def test_votes_recover_bpm_and_offset():
    rng = np.random.default_rng(1)
    votes = TimingVotes(song_length_ms=30000)
    for _ in range(20):
        votes.add_pass(noisy_pass(rng, 250.0, 120.0, 30000))
    markers = vote_beats(votes)
    lines = fit_timing(markers)
    assert len(lines) == 1
    assert abs(lines[0].bpm - 120.0) < 1e-6
    assert abs(lines[0].offset - 250.0) <= 1.0
    assert lines[0].meter == 4


def test_votes_recover_a_tempo_change():
    rng = np.random.default_rng(2)
    votes = TimingVotes(song_length_ms=40000)
    change = 250.0 + 40 * 500.0  # 40 beats of 120 BPM, then 150 BPM
    for _ in range(20):
        first = [m for m in noisy_pass(rng, 250.0, 120.0, change) if m.time < change - 100]
        second = noisy_pass(rng, change, 150.0, 40000)
        if second:
            second[0] = BeatMarker(second[0].time, MarkerKind.TIMING_POINT)
        votes.add_pass(first + second)
    lines = fit_timing(vote_beats(votes))
    assert [round(line.bpm, 6) for line in lines] == [120.0, 150.0]
    assert abs(lines[0].offset - 250.0) <= 1.0
    assert abs(lines[1].offset - change) <= 1.0


def test_no_passes_no_beats():
    assert vote_beats(TimingVotes(song_length_ms=1000)) == []
