"""Issue #19: corrupt archives give one clear error (never a zipfile/zlib/lzma one), a dataset build
lists each of them and goes on, and reports name files by the path the user gave."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.minimal_inputs import osz_inputs
from tests.test_dataset_build import beatmap_text, write_wav
from tokenization import MapperInputError, extract_osz, read_osz
from training import build_dataset

ARCHIVES = osz_inputs()


@pytest.mark.parametrize("name", sorted(ARCHIVES))
def test_corrupt_archive_is_one_mapper_error(tmp_path, name):
    path = tmp_path / f"{name}.osz"
    path.write_bytes(ARCHIVES[name])
    with pytest.raises(MapperInputError) as read_error:
        read_osz(path)
    with pytest.raises(MapperInputError):
        extract_osz(path, tmp_path / "out")
    assert str(read_error.value).startswith(str(path)) and "\n" not in str(read_error.value)


@pytest.mark.parametrize("name", ["corrupt_lzma", "encrypted", "sizes_beyond_the_file"])
def test_info_on_a_corrupt_archive_is_a_user_error(tmp_path, name):
    path = tmp_path / f"{name}.osz"
    path.write_bytes(ARCHIVES[name])
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "info", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("mapper: error:"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "internal error" not in proc.stderr


def _good_set(folder: Path) -> None:
    folder.mkdir(parents=True)
    write_wav(folder / "audio.wav", 6.0)
    (folder / "map.osu").write_text(beatmap_text(version="Normal", beatmap_id=11, set_id=10, audio="audio.wav"))


def test_build_lists_every_corrupt_archive_and_goes_on(tmp_path):
    sources = tmp_path / "sources"
    _good_set(sources / "good")
    for name, data in ARCHIVES.items():
        (sources / f"{name}.osz").write_bytes(data)
    report = build_dataset([sources], tmp_path / "dataset")
    assert report.total_beatmaps == 1
    assert sorted(Path(s.path).stem for s in report.skipped) == sorted(ARCHIVES)
    again = build_dataset([sources], tmp_path / "dataset")  # resuming does not stop at them either
    assert again.total_beatmaps == 1 and again.sources_already_built == len(ARCHIVES) + 1


def test_skipped_files_are_reported_under_the_path_given(tmp_path):
    real = tmp_path / "real"
    _good_set(real / "set")
    (real / "set" / "broken.osu").write_text("not a beatmap")
    (real / "bad.osz").write_bytes(ARCHIVES["corrupt_deflate"])
    link = tmp_path / "link"
    os.symlink(real, link)
    report = build_dataset([link], tmp_path / "dataset")
    assert sorted(s.path for s in report.skipped) == [str(link / "bad.osz"), str(link / "set" / "broken.osu")]


def test_build_keeps_mp3_decoder_notes_off_stderr(tmp_path):
    """libmpg123 writes 'Warning: Xing stream size off ...' straight to fd 2; the build's output stays its own."""
    from tests.conftest import require_shared

    real = require_shared("corpus", "Wieku+danser", "cYsmix - Peer Gynt", "audio.mp3").read_bytes()
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "song.mp3").write_bytes(real[:40000] + bytes(3000) + real[40000:80000])  # a gap: the decoder notes it
    (folder / "map.osu").write_text(beatmap_text(version="Normal", beatmap_id=21, set_id=20, audio="song.mp3"))
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "dataset", "build", str(folder), "--out",
                           str(tmp_path / "dataset"), "-q"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Xing" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr
