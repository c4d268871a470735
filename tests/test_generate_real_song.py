"""The README's main job: a real recording (tests/data/chaos_god, CC BY-SA, with its attribution) mapped by the
bundled starter with no --model. Its timing is the audio's (models.timing.audio_timing) and every object starts
on one of the song's rhythm candidates; `--rhythm` takes audio or model only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.generation.difficulty_settings import settings_for_stars
from models.model_source import starter_model

CLIP = Path(__file__).parent / "data" / "chaos_god" / "chaos_god_clip.ogg"
SLACK_MS = 1  # times are put back on the exact candidate they were held to (whole ms)


@pytest.mark.skipif(starter_model() is None, reason="this install has no bundled starter model")
def test_the_starter_maps_a_real_recording_on_its_heard_rhythm(tmp_path):
    from models.audio.loading import SAMPLE_RATE_HZ, load_audio
    from models.evaluation.difficulty import star_rating
    from models.evaluation.problems import find_problems
    from models.timing.audio_timing import analyse_timing
    from models.timing.rhythm_candidates import rhythm_candidates
    from tokenization import read_beatmap

    assert (CLIP.parent / "ATTRIBUTION.txt").is_file() and (CLIP.parent / "LICENSE.txt").is_file()
    env = {k: v for k, v in os.environ.items() if k != "MAPPER_MODEL" and not k.startswith("HF_")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "generate", str(CLIP), "--difficulty", "3",
                           "--export-osz", "--out", str(tmp_path / "out"), "--seed", "0", "-q"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "starter" in proc.stderr and "--model v30" in proc.stderr
    written = sorted((tmp_path / "out").iterdir())
    assert [p.suffix for p in written] == [".osu", ".osz"]
    beatmap = read_beatmap(written[0])
    samples = load_audio(CLIP)
    timing = analyse_timing(samples, SAMPLE_RATE_HZ)
    red = [tp for tp in beatmap.timing_points if tp.uninherited]
    assert abs(red[0].beat_length - timing.red_lines[0].ms_per_beat) < 1e-6  # the heard tempo, not the model's
    candidates = [c.time_ms for c in rhythm_candidates(samples, SAMPLE_RATE_HZ, timing)]
    starts = [o.time for o in beatmap.hit_objects]
    assert len(starts) >= 10
    assert all(min(abs(t - c) for c in candidates) <= SLACK_MS for t in starts), starts
    assert abs(star_rating(beatmap) - 3) <= 0.5  # the asked rating (models.postprocess.star_fit)
    # on the written grid exactly (whole-ms red lines, times cast as the editor stores them): nothing unsnapped
    assert [p for p in find_problems(beatmap) if p.check == "unsnapped"] == []
    # a Hard's settings, as real maps of 3 stars have them (not the model's Insane defaults: OD 8, AR 9), and
    # sliders at a Hard's speed at the heard tempo
    settings = settings_for_stars(0, 3.0)
    d = beatmap.difficulty
    assert (d.hp_drain_rate, d.overall_difficulty, d.approach_rate, d.circle_size) == (
        settings.hp, settings.overall_difficulty, settings.approach_rate, settings.circle_size)
    assert d.slider_multiplier == settings.slider_multiplier(timing.red_lines[0].ms_per_beat)
    assert 5 <= d.approach_rate <= 8 and d.overall_difficulty < 8 and 1.0 < d.slider_multiplier < 1.4
    # hitsounded by the beat (the starter writes none): claps on the backbeat, finishes on strong downbeats
    sounds = [o.edge_sounds[0].hitsound if getattr(o, "edge_sounds", None) else o.hitsound for o in beatmap.hit_objects]
    assert any(s & 8 for s in sounds) and any(s & 4 for s in sounds)


def test_difficulty_settings_follow_the_rating_as_real_maps_do():
    easy, hard, expert = (settings_for_stars(0, stars) for stars in (2.0, 3.5, 6.0))
    for field in ("hp", "overall_difficulty", "approach_rate", "slider_px_per_ms"):
        assert getattr(easy, field) < getattr(hard, field) < getattr(expert, field), field
    assert expert.slider_multiplier(60_000 / 256) < expert.slider_multiplier(60_000 / 128)  # one speed, any tempo
    taiko = settings_for_stars(1, 4.0)
    assert taiko.approach_rate is None and taiko.slider_multiplier(500.0) is None  # nothing of osu!'s in taiko


def test_rhythm_takes_audio_or_model(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "generate", str(CLIP), "--rhythm", "onsets",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and len(lines) == 1 and "--rhythm takes audio or model" in lines[0], proc.stderr
