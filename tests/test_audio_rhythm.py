"""Rhythm heard in the audio holds a model's objects: the `RhythmCandidates` decoding rule (object times only at
the next candidate, no early end), the star rating -> how many candidates (`keep_for_stars`, rosu-pp on a
stand-in map), and a whole map pass of a random tiny model whose objects all land on the given times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.decoding.rules import RhythmCandidates, RuleTokens
from models.generation.audio_rhythm import TimedCandidate, keep_for_stars, stand_in_stars

ROOT = Path(__file__).resolve().parents[1]

# a toy vocabulary: 0 pad, 1 SOS, 2 EOS, 3 CIRCLE, 4 SLIDER_END, 5 another token, 10..110 TIME_SHIFT 0..100 steps
TOKENS = RuleTokens(time_shift_start=10, time_shift_end=111, sos_ids=(1,), eos_ids=(2,), timed_type_ids=(3, 4))
CIRCLE, SLIDER_END, OTHER = 3, 4, 5


def rule(candidates_ms, *, lookback_ms=0.0, has_lookahead=True, chords=False):
    return RhythmCandidates(TOKENS, candidates_ms, window_start_ms=1000.0, lookback_ms=lookback_ms,
                            commit_ms=600.0, has_lookahead=has_lookahead, types_first=True,
                            object_type_ids=(CIRCLE,), chords=chords)


def allowed_steps(scores: torch.Tensor) -> list[int]:
    return [i - TOKENS.time_shift_start for i in range(TOKENS.time_shift_start, TOKENS.time_shift_end)
            if torch.isfinite(scores[0, i])]


def test_an_object_goes_to_the_next_unused_candidate():
    candidates = [1100.0, 1250.0, 1400.0, 1900.0]  # steps 10, 25, 40 in the committed span; 90 is past it
    scores = torch.zeros(1, 120)
    first = rule(candidates)(torch.tensor([[1, CIRCLE]]), scores)
    assert allowed_steps(first) == [10]
    # after an object at step 10 the next one goes to step 25, never beyond it nor back
    after = rule(candidates)(torch.tensor([[1, CIRCLE, 10 + 10, OTHER, CIRCLE]]), scores)
    assert allowed_steps(after) == [25]
    # the window may not end while a candidate of its committed span is unused
    assert not torch.isfinite(after[0, 2])
    # mania's chords: the next note completes the chord of the time just used while fewer notes stand there
    # than the times it is given (1100 twice: a chord of two), then the next candidate
    chord_rule = rule([1100.0, *candidates], chords=True)
    chord = chord_rule(torch.tensor([[1, CIRCLE, 10 + 10, OTHER, CIRCLE]]), scores)
    assert allowed_steps(chord) == [10]
    full = chord_rule(torch.tensor([[1, CIRCLE, 10 + 10, OTHER, CIRCLE, 10 + 10, OTHER, CIRCLE]]), scores)
    assert allowed_steps(full) == [25]
    assert allowed_steps(rule(candidates, chords=True)(torch.tensor([[1, CIRCLE, 10 + 10, OTHER, CIRCLE]]),
                                                       scores)) == [25]


def test_a_slider_end_stays_before_the_next_candidate():
    candidates = [1100.0, 1250.0]
    ends = rule(candidates)(torch.tensor([[1, CIRCLE, 10 + 10, SLIDER_END]]), torch.zeros(1, 120))
    steps = allowed_steps(ends)
    assert steps[0] == 10 and 25 not in steps and max(s for s in steps if s < 60) == 24


def test_with_every_candidate_used_the_window_ends():
    candidates = [1100.0]
    done = torch.tensor([[1, CIRCLE, 10 + 10, OTHER]])
    scores = rule(candidates)(done, torch.zeros(1, 120))
    assert torch.isfinite(scores[0, 2])  # EOS allowed
    # an object type now can only take a lookahead time, which ends the window (the next one redoes it)
    assert allowed_steps(rule(candidates)(torch.tensor([[1, CIRCLE, 20, CIRCLE]]), scores)) == list(range(60, 101))
    # in a pass's last window (no lookahead zone) no new object starts
    last = rule(candidates, has_lookahead=False)(done, torch.zeros(1, 120))
    assert not torch.isfinite(last[0, CIRCLE]) and torch.isfinite(last[0, 2])


def test_candidates_in_the_lookback_zone_belong_to_the_previous_window():
    scores = rule([1100.0, 1350.0], lookback_ms=200.0)(torch.tensor([[1, CIRCLE]]), torch.zeros(1, 120))
    assert allowed_steps(scores) == [35]


def beat_candidates(seconds: float = 60.0, bpm: float = 150.0) -> list[TimedCandidate]:
    """Quarter-beat candidates over `seconds`, strongest on the beats, then the half beats."""
    quarter = 60000.0 / bpm / 4
    return [TimedCandidate(1000 + i * quarter, 1.0 if i % 4 == 0 else 0.6 if i % 2 == 0 else 0.3 + 0.001 * (i % 7))
            for i in range(int(seconds * 1000 / quarter))]


@pytest.mark.parametrize("gamemode", [0, 3])
def test_more_stars_keep_more_candidates_and_the_rating_follows(gamemode):
    candidates = beat_candidates()
    low, high = (2.0, 4.0) if gamemode == 0 else (1.2, 2.0)  # single mania notes (no chords) rate lower
    kept = {stars: keep_for_stars(candidates, stars, gamemode=gamemode, ms_per_beat=400.0) for stars in (low, high)}
    assert 0 < len(kept[low]) < len(kept[high]) <= len(candidates)
    for stars, times in kept.items():
        assert times == sorted(times)
        assert abs(stand_in_stars(times, gamemode=gamemode, ms_per_beat=400.0) - stars) < 0.5
    # the strongest go first: at the lower rating every beat is kept before any quarter
    beats = {c.time_ms for c in candidates if c.strength == 1.0}
    assert beats <= set(kept[high]) and (beats >= set(kept[low]) or beats <= set(kept[low]))


def test_a_map_pass_puts_every_object_on_the_given_times(random_tiny_model):
    from models.generation.generator import GenerationSettings, Generator
    from profiles import load_profile
    from tokenization.events import ContextType, EventType
    from tokenization.prompt import Conditioning

    model, vocab, _ = random_tiny_model
    profile = load_profile("tiny")
    generator = Generator(model, vocab, profile, GenerationSettings())
    generator.object_times = [1000.0 + 250 * i for i in range(40)]  # 10 s of eighth notes at 120 BPM
    circle = vocab.event_start[EventType.CIRCLE]
    plain_rules = generator.base_rules

    def circles_likely():  # a random model rarely writes a type token; this one leans to circles
        def lean(input_ids, scores):
            scores = scores.clone()
            scores[:, circle] += 8.0
            return scores
        return [lean, *plain_rules()]

    generator.base_rules = circles_likely
    audio = np.random.default_rng(0).normal(0, 0.1, 16_000 * 12).astype(np.float32)
    torch.manual_seed(0)
    contexts = generator.generate(audio, Conditioning(gamemode=0, difficulty=4.0, song_length_ms=12_000.0),
                                  [ContextType.MAP])
    events = contexts[ContextType.MAP]
    starts = {EventType.CIRCLE, EventType.SLIDER_HEAD, EventType.SPINNER}
    placed = [events[i + 1].value for i, e in enumerate(events[:-1])
              if e.type in starts and events[i + 1].type is EventType.TIME_SHIFT]
    assert len(placed) >= 20, events[:40]
    allowed = set(generator.object_times)
    assert all(min(abs(t - a) for a in allowed) <= 1 for t in placed), placed  # the exact times, not 10 ms steps


def test_an_osu_map_lays_an_even_rhythm_before_filling_it_in():
    """A loud burst of quarters and a quiet verse of beats: the first layer holds objects no two closer than its
    gap, the verse's among them though weaker, and a low rating keeps more objects spread out than the strongest
    quarters alone would give (a few bursts of quarters rate high with few objects)."""
    from models.generation.audio_rhythm import (
        SPREAD_BELOW_STARS,
        SPREAD_GAP_MS,
        count_for_stars,
        ranked_notes,
        spread_first,
    )

    quarter = 100.0  # 150 BPM
    burst = [TimedCandidate(1000 + i * quarter, 1.0) for i in range(80)]  # 8 s of loud quarters
    verse = [TimedCandidate(9000 + i * 4 * quarter, 0.4) for i in range(60)]  # 24 s of quiet beats
    candidates = burst + verse
    ranked = spread_first(ranked_notes(candidates))
    assert sorted((c.time_ms, c.strength) for c in ranked) == sorted((c.time_ms, c.strength) for c in candidates)
    layer = sorted(c.time_ms for c in ranked[:50])
    assert any(t >= 9000 for t in layer) and min(b - a for a, b in zip(layer, layer[1:])) >= SPREAD_GAP_MS
    times = keep_for_stars(candidates, 1.5, gamemode=0, ms_per_beat=4 * quarter)
    assert min(b - a for a, b in zip(times, times[1:])) >= SPREAD_GAP_MS
    strongest = ranked_notes(candidates)

    def strength_only(count: int) -> float:
        return stand_in_stars(sorted(c.time_ms for c in strongest[:count]), ms_per_beat=4 * quarter)

    assert len(times) > count_for_stars(strength_only, 1.5, len(strongest))
    # an Insane or harder may hold bursts, and never fewer objects than the Hard boundary's map
    hard = keep_for_stars(candidates, SPREAD_BELOW_STARS - 0.01, gamemode=0, ms_per_beat=4 * quarter)
    harder = keep_for_stars(candidates, SPREAD_BELOW_STARS + 0.5, gamemode=0, ms_per_beat=4 * quarter)
    assert min(b - a for a, b in zip(harder, harder[1:])) < SPREAD_GAP_MS
    assert len(harder) >= len(hard)


def test_bursts_come_after_the_onsets_that_stand_alone():
    """Above the Hard boundary the strongest onsets lead, but a burst's further notes (strong, yet a quarter
    beside a stronger one) wait behind weaker onsets a beat from anything: by strength alone a fast song's loud
    bursts reached 4 stars with fewer objects than its Hard had."""
    from models.generation.audio_rhythm import SPREAD_GAP_MS, bursts_later

    burst = [TimedCandidate(1000 + i * 60.0, 1.0 - 0.01 * i) for i in range(8)]  # a loud burst of 1/4s at 250 BPM
    beats = [TimedCandidate(3000 + i * 500.0, 0.5) for i in range(4)]  # quieter beats, far apart
    ranked = sorted(burst + beats, key=lambda c: -c.strength)
    order = bursts_later(ranked)
    assert sorted(order, key=lambda c: c.time_ms) == sorted(ranked, key=lambda c: c.time_ms)
    assert order[:2] == [burst[0], burst[5]]  # the strongest still leads, and the burst's note a gap from it
    assert order[2:6] == beats  # then the lone beats, though weaker than the rest of the burst
    assert order[6:] == [burst[i] for i in (2, 7, 1, 3, 4, 6)]  # then the burst's largest holes, weighted by strength
    assert bursts_later(ranked, gap_ms=SPREAD_GAP_MS / 10)[:8] == burst  # with a tiny gap: by strength


def test_a_catch_map_has_as_many_fruits_as_real_ones_of_its_rating():
    """The README clip (a real recording) as catch maps: the density the stand-in catch map gives at a rating is
    that of real catch maps (the corpus's at 4.0-4.7 stars: 134-289 fruits a minute, at 5.2-5.6: 232-276), and
    grows with the rating. Fruits across the plate every time (the old stand-in) rated 4 stars with 92 a minute."""
    from models.audio.loading import SAMPLE_RATE_HZ, load_audio
    from models.timing.audio_timing import analyse_timing
    from models.timing.rhythm_candidates import rhythm_candidates

    samples = load_audio(ROOT / "tests" / "data" / "chaos_god" / "chaos_god_clip.ogg")
    timing = analyse_timing(samples, SAMPLE_RATE_HZ)
    candidates = [TimedCandidate(c.time_ms, c.strength) for c in rhythm_candidates(samples, SAMPLE_RATE_HZ, timing)]
    minutes = len(samples) / SAMPLE_RATE_HZ / 60.0
    beat_ms = timing.red_lines[0].ms_per_beat
    per_minute = {stars: len(keep_for_stars(candidates, stars, gamemode=2, ms_per_beat=beat_ms)) / minutes
                  for stars in (4.5, 5.5)}
    assert 134 <= per_minute[4.5] < per_minute[5.5] <= 300, per_minute
    assert per_minute[5.5] >= 232, per_minute
