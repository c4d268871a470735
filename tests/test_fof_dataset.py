"""`mapper dataset fof`: a Frets on Fire song folder (song.ini, notes.mid, stems) becomes mania and taiko
maps whose red line is the MIDI tempo and whose objects sit on the hardest chart's notes."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from typer.testing import CliRunner

from mapperator_cli.app import app

MISSING = [name for name in ("pretty_midi", "soundfile") if importlib.util.find_spec(name) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"dataset fof needs {', '.join(MISSING)} (make install)")

runner = CliRunner()
BPM = 150.0  # 400 ms a beat
AMAZING = [(0.4 * i, 96 + i % 5) for i in range(1, 16)]  # (seconds, key): fret i % 5 on every beat
EASY = [(0.8 * i, 60 + i % 3) for i in range(1, 8)]  # a sparser chart the converter must not pick


def _fof_song(folder, *, with_chart=True):
    import pretty_midi
    import soundfile

    folder.mkdir(parents=True)
    (folder / "song.ini").write_text("[song]\nname = Test Riff\nartist = Nobody\ndelay = 0\n")
    rate = 22050
    audio = np.zeros(int(7 * rate), dtype=np.float32)
    for start, _ in AMAZING:  # a click where each note is, in the guitar stem
        audio[int(start * rate):int(start * rate) + 200] = 0.5
    soundfile.write(str(folder / "guitar.ogg"), audio, rate, format="OGG", subtype="VORBIS")
    soundfile.write(str(folder / "song.ogg"), audio * 0.1, rate, format="OGG", subtype="VORBIS")
    if with_chart:
        midi = pretty_midi.PrettyMIDI(initial_tempo=BPM)
        part = pretty_midi.Instrument(0, name="PART GUITAR")
        part.notes = [pretty_midi.Note(100, key, start, start + 0.1) for start, key in AMAZING + EASY]
        midi.instruments.append(part)
        midi.write(str(folder / "notes.mid"))


def test_fof_songs_become_mania_and_taiko_maps_on_the_chart(tmp_path):
    from tokenization import read_beatmap
    from tokenization.beatmap import GameMode
    from training import mmrs

    _fof_song(tmp_path / "songs" / "riff")
    out = tmp_path / "data"
    result = runner.invoke(app, ["dataset", "fof", "--src", str(tmp_path / "songs"), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "from 1 Frets on Fire songs" in result.output
    frame = mmrs.read_metadata(out)
    maps = [read_beatmap(mmrs.beatmap_path(out, row)) for _, row in frame.iterrows()]
    assert sorted(m.general.mode for m in maps) == [GameMode.TAIKO] * 2 + [GameMode.MANIA] * 2
    for beatmap in maps:
        assert [round(t.beat_length, 3) for t in beatmap.timing_points if t.uninherited] == [400.0]
        assert beatmap.metadata.source == "Frets on Fire" and beatmap.metadata.title == "Test Riff"
    full = next(m for m in maps if m.general.mode == GameMode.MANIA and m.metadata.version.endswith("Full"))
    assert [o.time for o in full.hit_objects] == [round(s * 1000) for s, _ in AMAZING]
    assert full.difficulty.circle_size == 5  # one column per fret
    columns = [int(o.x * 5 / 512) for o in full.hit_objects]
    assert columns == [key - 96 for _, key in AMAZING]


def test_fof_without_songs_is_a_user_error(tmp_path):
    _fof_song(tmp_path / "songs" / "riff", with_chart=False)
    result = runner.invoke(app, ["dataset", "fof", "--src", str(tmp_path / "songs"), "--out", str(tmp_path / "d")])
    from tokenization.errors import MapperInputError

    # The CLI's entry point prints a MapperInputError as one line on stderr and exits 2.
    assert result.exit_code != 0 and isinstance(result.exception, MapperInputError)
    assert "no Frets on Fire songs" in str(result.exception)
