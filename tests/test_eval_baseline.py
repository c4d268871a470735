"""`mapper eval --baseline beats`: one object on every detected beat, measured like a model's maps; on a
click track it must find the tempo and phase the clicks were made with."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mapperator_cli.app import app
from training.click_songs import beat_map, click_track

runner = CliRunner()
BPM, OFFSET = 150.0, 230.0


def _song(root):
    folder = root / "clicks150"
    folder.mkdir()
    click_track(folder / "audio.wav", seconds=12.0, bpm=BPM, offset_ms=OFFSET)
    beat_map(folder / "Test - Clicks (tester) [Beats].osu", "audio.wav", seconds=12.0, bpm=BPM, offset_ms=OFFSET)
    mania = (folder / "Test - Clicks (tester) [Beats].osu").read_text()
    mania = mania.replace("Mode: 0", "Mode: 3").replace("Version:Beats", "Version:4K").replace("CircleSize:4",
                                                                                               "CircleSize:4")
    (folder / "Test - Clicks (tester) [4K].osu").write_text(mania)
    return folder


def test_beats_baseline_finds_the_click_grid(tmp_path):
    folder = _song(tmp_path)
    before = sorted(p.name for p in folder.iterdir())
    result = runner.invoke(app, ["eval", str(folder), "--baseline", "beats", "--json", "-q"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["baseline"] == "beats" and out["model"] is None and out["skipped"] == []
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written beside the song
    modes = []
    for song in out["songs"]:
        report, c = song["report"], song["report"]["comparison"]
        modes.append(report["generated"]["mode"])
        assert report["generated"]["mode"] == report["reference"]["mode"]
        assert abs(c["bpm_error_pct"]) < 0.5, c
        assert abs(c["offset_error_ms"]) <= 10, c
        assert c["onset_f1_20ms"] > 0.9 and c["on_reference_grid_10ms"] == 1.0, c
    assert sorted(modes) == ["mania", "osu"]
    assert out["aggregate"]["comparison.onset_f1_20ms"]["n"] == 2


def test_baseline_table_and_bad_combinations(tmp_path):
    folder = _song(tmp_path)
    result = runner.invoke(app, ["eval", str(folder), "--baseline", "beats", "--limit", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "aggregate over 1 map(s)" in result.output
    for args, words in ((["--baseline", "clicks"], "beats, onsets"), (["--baseline", "beats", "--model", "x"], "separate"),
                        (["--baseline", "beats", "--profile", "tiny"], "--profile")):
        result = runner.invoke(app, ["eval", str(folder), *args, "-q"])
        assert result.exit_code != 0 and words in str(result.exception), result.exception


def test_onsets_baseline_one_map_per_song_at_the_asked_stars(tmp_path):
    folder = _song(tmp_path)
    result = runner.invoke(app, ["eval", str(folder), "--baseline", "onsets", "--difficulty", "0.6", "--json", "-q"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["baseline"] == "onsets" and out["difficulty"] == 0.6
    assert len(out["songs"]) == 1  # one song (one audio file), against the real map nearest to 0.6 stars
    report = out["songs"][0]["report"]
    c = report["comparison"]
    assert report["generated"]["version"] == "Audio onsets" and report["generated"]["target_stars"] == 0.6
    # the click grid's tempo, and as many clicks as rate 0.6 stars (their phase carries the audio timing's
    # latency, calibrated on real maps rather than clicks, so rhythm F1 is not asked of a click track)
    assert abs(c["bpm_error_pct"]) < 0.05, c
    assert 0 < report["generated"]["objects"] and abs(report["generated"]["stars"] - 0.6) < 0.3, report["generated"]
    bad = runner.invoke(app, ["eval", str(folder), "--baseline", "onsets", "--difficulty", "40", "-q"])
    assert bad.exit_code != 0 and "--difficulty" in str(bad.exception)


def test_onset_candidates_lie_on_the_written_grid():
    """Rhythm candidates are snapped to the red lines as written (whole ms) and cast to whole ms as the editor
    stores a snapped object: a map of them has no unsnapped object, whatever fraction of a ms the heard
    offset had."""
    import numpy as np

    from models.audio.loading import SAMPLE_RATE_HZ
    from models.audio.onsets import Onsets
    from models.evaluation.grid import Grid
    from models.timing.audio_timing import AudioTiming
    from models.timing.fit import RedLine
    from models.timing.rhythm_candidates import rhythm_candidates, written_red_lines
    from tokenization.beatmap import TimingPoint

    beat = 60000.0 / 173.0  # 346.82... ms: no grid point but the first is a whole ms
    heard = [RedLine(offset=230.4, ms_per_beat=beat), RedLine(offset=230.4 + 64 * beat + 0.7, ms_per_beat=beat)]
    times = np.arange(200.0, 60_000.0, beat / 4 + 0.37)  # drifting across the grid: every snap is met
    onsets = Onsets(times_ms=times, strengths=np.ones_like(times))
    timing = AudioTiming(red_lines=heard, bpm=173.0, offset_ms=230.4, candidates=[], onsets=onsets)
    found = rhythm_candidates(np.zeros(SAMPLE_RATE_HZ), SAMPLE_RATE_HZ, timing)
    written = Grid([TimingPoint(line.offset, line.ms_per_beat, line.meter) for line in written_red_lines(heard)])
    assert len(found) > 100 and all(c.time_ms == int(c.time_ms) for c in found)
    assert [c.time_ms for c in found if written.unsnap(c.time_ms) != 0] == []


def test_a_joke_map_is_never_the_real_map_nearest_to_a_rating(tmp_path):
    # a map rated above 20 stars (here ~24: circles 50 ms apart jumping 500 px) is a joke, not what a map at a
    # real rating holds: asked for 15 stars, the comparison is against the song's real map, though the joke
    # is nearer in rating
    folder = _song(tmp_path)
    (folder / "Test - Clicks (tester) [4K].osu").unlink()
    beats = (folder / "Test - Clicks (tester) [Beats].osu").read_text()
    head, _ = beats.split("[HitObjects]")
    jumps = [f"{256 + (250 if i % 2 else -250)},192,{230 + 50 * i},1,0,0:0:0:0:" for i in range(225)]
    joke = head.replace("Version:Beats", "Version:Joke") + "[HitObjects]\n" + "\n".join(jumps) + "\n"
    (folder / "Test - Clicks (tester) [Joke].osu").write_text(joke)
    result = runner.invoke(app, ["eval", str(folder), "--baseline", "onsets", "--difficulty", "15", "--json", "-q"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert [song["report"]["reference"]["version"] for song in out["songs"]] == ["Beats"]
