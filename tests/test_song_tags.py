"""Without a reference map, `mapper generate` names the map from the song's own tags (Vorbis
comments, ID3), not "Unknown Artist - <file name>"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from models.audio.tags import read_song_tags

mutagen = pytest.importorskip("mutagen")


def tagged_flac(path: Path, title: str, artist: str, samples=None) -> Path:
    samples = np.zeros(1600, dtype=np.float32) if samples is None else samples
    soundfile.write(str(path), samples, 16000, format="FLAC")
    from mutagen.flac import FLAC

    song = FLAC(str(path))
    song["title"], song["artist"] = title, artist
    song.save()
    return path


def test_vorbis_comments_and_id3_are_read(tmp_path):
    tags = read_song_tags(tagged_flac(tmp_path / "a.flac", "Hornpipe", "Ryan's Mammoth"))
    assert (tags.title, tags.artist, tags.title_unicode) == ("Hornpipe", "Ryan's Mammoth", None)
    wav = tmp_path / "b.wav"
    soundfile.write(str(wav), np.zeros(1600, dtype=np.float32), 16000)
    from mutagen.id3 import TIT2, TPE1
    from mutagen.wave import WAVE

    song = WAVE(str(wav))
    song.add_tags()
    song.tags.add(TIT2(encoding=3, text="Café"))
    song.tags.add(TPE1(encoding=3, text="Ensemble"))
    song.save()
    tags = read_song_tags(wav)
    assert (tags.title, tags.title_unicode, tags.artist) == ("Cafe", "Café", "Ensemble")
    assert read_song_tags(tmp_path / "missing.ogg").title is None  # no tags is never an error


def test_generate_names_the_map_from_the_song_tags(tmp_path):
    from typer.testing import CliRunner

    from mapperator_cli.app import app
    from tests.web_helpers import tiny_model_and_song
    from tokenization import read_beatmap

    model, _ = tiny_model_and_song(tmp_path)
    samples = soundfile.read(str(tmp_path / "song.wav"), dtype="float32")[0]
    song = tagged_flac(tmp_path / "song.flac", "Hornpipe", "Ryan's Mammoth", samples)
    result = CliRunner().invoke(app, ["generate", str(song), "--model", str(model), "--out", str(tmp_path / "out"),
                                      "--seed", "1", "--output-type", "timing", "-q"])
    assert result.exit_code == 0, result.output
    written = [line for line in result.stdout.splitlines() if line.endswith(".osu")]
    meta = read_beatmap(written[0]).metadata
    assert (meta.title, meta.artist) == ("Hornpipe", "Ryan's Mammoth")
    assert Path(written[0]).name.startswith("Ryan's Mammoth - Hornpipe")
