"""The "audio timing + onsets, no model" baseline: what the audio analysis gives on its own, so that a model's
share of a map is visible beside it. The red lines of `models.timing.audio_timing`, and the strongest rhythm
candidates at the asked star rating (`models.generation.audio_rhythm.keep_for_stars`, the same choice the
starter's generation makes) written as plain objects laid out as that module's stand-in map."""

from __future__ import annotations

from pathlib import Path

from models.evaluation.beat_baseline import TAGS
from tokenization.beatmap import Beatmap, Difficulty, General, Metadata, TimingPoint

DEFAULT_STARS = 5.0


def onset_beatmap(times: list[float], red_lines, reference: Beatmap, audio_file: str) -> Beatmap:
    """A map in the reference's mode (and key count) with one object at each of `times`, laid out as the
    stand-in map the star rating was measured on."""
    from models.generation.audio_rhythm import stand_in_objects

    mode = reference.mode
    objects = stand_in_objects(times, gamemode=int(mode), keycount=max(1, int(reference.difficulty.circle_size)),
                               slider_multiplier=reference.difficulty.slider_multiplier,
                               ms_per_beat=red_lines[0].ms_per_beat if red_lines else 500.0)
    return Beatmap(
        general=General(audio_filename=audio_file, mode=mode),
        metadata=Metadata(title=reference.metadata.title, artist=reference.metadata.artist, creator="mapper baseline",
                          version="Audio onsets", tags=list(TAGS)),
        difficulty=Difficulty(circle_size=reference.difficulty.circle_size,
                              slider_multiplier=reference.difficulty.slider_multiplier),
        timing_points=[TimingPoint(line.offset, line.ms_per_beat, line.meter) for line in red_lines],
        hit_objects=objects)


def onset_baseline_for(audio: Path, reference: Beatmap, stars: float | None) -> Beatmap | None:
    """The onset map for one song at `stars`, or None when no beat is heard (silence)."""
    from models.audio.loading import SAMPLE_RATE_HZ, load_audio
    from models.audio.playback_delay import playback_delay_ms
    from models.generation.audio_rhythm import TimedCandidate, keep_for_stars
    from models.timing.audio_timing import analyse_timing
    from models.timing.rhythm_candidates import rhythm_candidates, written_red_lines

    samples = load_audio(audio)
    timing = analyse_timing(samples, SAMPLE_RATE_HZ, playback_delay_ms=playback_delay_ms(audio))
    if timing is None or not timing.red_lines:
        return None
    found = rhythm_candidates(samples, SAMPLE_RATE_HZ, timing)
    mode = int(reference.mode)
    times = keep_for_stars([TimedCandidate(c.time_ms, c.strength) for c in found],
                           DEFAULT_STARS if stars is None else stars, gamemode=mode,
                           keycount=max(1, int(reference.difficulty.circle_size)),
                           circle_size=reference.difficulty.circle_size,
                           slider_multiplier=reference.difficulty.slider_multiplier,
                           ms_per_beat=timing.red_lines[0].ms_per_beat)
    return onset_beatmap(times, written_red_lines(timing.red_lines), reference, audio.name)
