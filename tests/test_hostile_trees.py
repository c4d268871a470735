"""Issue #25, class 6: `dataset build` over trees a hostile user makes: folders nested 1000 deep, a
song folder holding a link to itself."""

from __future__ import annotations

import os

from tests.test_dataset_build import beatmap_text, write_wav
from training import build_dataset


def _song(folder, beatmap_id: int = 11) -> None:
    folder.mkdir(parents=True)
    write_wav(folder / "audio.wav", 6.0)
    (folder / "map.osu").write_text(beatmap_text(version="Normal", beatmap_id=beatmap_id, set_id=10 + beatmap_id,
                                                 audio="audio.wav"))


def test_folders_nested_1000_deep_are_skipped_and_listed_not_fatal(tmp_path, monkeypatch):
    sources = tmp_path / "sources"
    _song(sources / "set")
    deep = sources / "deep"
    deep.mkdir()
    monkeypatch.chdir(deep)  # relative mkdirs: an absolute path 1000 folders deep is longer than PATH_MAX
    for _ in range(1000):
        os.mkdir("d")
        os.chdir("d")
    os.chdir(tmp_path)
    try:
        report = build_dataset([sources], tmp_path / "dataset")
    finally:
        _remove_chain(deep, 1000)  # shutil.rmtree (pytest's clean-up) recurses, and would fail on it
    assert report.total_beatmaps == 1
    assert len(report.skipped) == 1 and "nested deeper than" in report.skipped[0].reason
    assert report.skipped[0].path.startswith(str(deep / "d" / "d"))


def _remove_chain(top, depth: int) -> None:
    os.chdir(top)
    for _ in range(depth):
        os.chdir("d")
    for _ in range(depth):
        os.chdir("..")
        os.rmdir("d")


def test_a_self_looping_link_in_a_song_folder_keeps_the_folders_map(tmp_path):
    folder = tmp_path / "sources" / "set"
    _song(folder)
    os.symlink("loop", folder / "loop")
    os.symlink("again.osu", folder / "again.osu")
    report = build_dataset([tmp_path / "sources"], tmp_path / "dataset")
    assert report.total_beatmaps == 1, report.skipped
