"""Issue #25, classes 3, 7 and 8 (outputs, archives, messages): names taken atomically, metadata that
cannot break lines or names, output modes that follow the umask, full disks named by the file being
written, .osz members of other compression methods refused, the parity slider arithmetic fast."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from models.pipeline.output import write_output
from models.pipeline.request import GenerateRequest
from tests.conftest import require_shared
from tests.minimal_inputs import beatmap as beatmap_bytes
from tokenization import MapperInputError, parse_beatmap, read_beatmap, read_osz

ONE_MAP = beatmap_bytes("256,192,1000,1,0,0:0:0:0:\n64,64,1500,2,0,L|200:64,1,140\n")


@pytest.fixture
def song(tmp_path):
    path = tmp_path / "song.wav"
    soundfile.write(path, np.zeros(8000, dtype=np.float32), 8000)
    return path


def a_map(title: str = "Song", version: str = "Normal (AI)"):
    beatmap = parse_beatmap(ONE_MAP, path="map.osu")
    beatmap.metadata.title, beatmap.metadata.artist = title, "Artist"
    beatmap.metadata.creator, beatmap.metadata.version = "mapper (AI)", version
    return beatmap


# ------------------------------------------------------------------------------------------ 3: names


def test_two_runs_into_one_folder_never_share_a_name(tmp_path, song, monkeypatch):
    """Both runs pick their name while the other is still writing (a slow rename): each keeps its map."""
    real_replace, real_link = os.replace, os.link

    def slow(call):
        def slowed(*args, **kwargs):
            time.sleep(0.3)
            return call(*args, **kwargs)
        return slowed

    monkeypatch.setattr(os, "replace", slow(real_replace))
    monkeypatch.setattr(os, "link", slow(real_link))
    request = GenerateRequest(audio=song, model="none", out_dir=tmp_path / "out")
    results, errors = {}, []

    def run(source: str) -> None:
        beatmap = a_map()
        beatmap.metadata.source = source  # not part of the name: both runs want the same one
        try:
            results[source] = write_output(request, beatmap, None, 0, []).path
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert results["first"] != results["second"]
    assert {name: read_beatmap(path).metadata.source for name, path in results.items()} == {
        "first": "first", "second": "second"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in results.values())


def test_without_hard_links_names_are_still_taken_once(tmp_path, song, monkeypatch):
    """FAT and some network filesystems refuse links: the name is then reserved by an exclusive create."""
    def refused(*args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", refused)
    request = GenerateRequest(audio=song, model="none", out_dir=tmp_path / "out")
    paths = [write_output(request, a_map(), None, 0, []).path for _ in range(3)]
    assert [p.name for p in paths] == ["Artist - Song (mapper (AI)) [Normal (AI)].osu",
                                       "Artist - Song (mapper (AI)) [Normal (AI)] (2).osu",
                                       "Artist - Song (mapper (AI)) [Normal (AI)] (3).osu"]
    assert all(len(read_beatmap(p).hit_objects) == 2 for p in paths)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)  # no temporaries


def test_metadata_cannot_add_lines_or_reach_names_with_control_characters(tmp_path, song):
    request = GenerateRequest(audio=song, model="none", out_dir=tmp_path)
    title = "Title\r\n[HitObjects]\n1,1,1,1,0,0:0:0:0:\x1b[31m red\u202egpj.exe\x9b"
    path = write_output(request, a_map(title=title, version="Hard\nVersion:Easy"), None, 0, []).path
    again = read_beatmap(path)
    assert len(again.hit_objects) == 2  # nothing injected
    assert again.metadata.version == "Hard Version:Easy"
    assert "\n" not in again.metadata.title and "\x1b" not in again.metadata.title
    assert "\u202e" not in again.metadata.title and "\x9b" not in again.metadata.title
    assert not any(ch in path.name for ch in "\n\r\x1b\u202e\x9b")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert sum(line.startswith("[HitObjects]") for line in lines) == 1
    assert sum(line.startswith("Version:") for line in lines) == 1


def test_a_long_non_ascii_title_is_cut_by_bytes_and_written(tmp_path, song):
    request = GenerateRequest(audio=song, model="none", out_dir=tmp_path, export_osz=True)
    result = write_output(request, a_map(title="日本語のタイトル" * 40), None, 0, [])  # 320 characters, 960 bytes
    assert [p.suffix for p in result.written] == [".osu", ".osz"]
    assert all(len(p.name.encode()) <= 200 for p in result.written)
    assert read_beatmap(result.path).metadata.title == "日本語のタイトル" * 40  # the field keeps it whole


def test_written_files_follow_the_umask(tmp_path, song):
    previous = os.umask(0o022)
    try:
        result = write_output(GenerateRequest(audio=song, model="none", out_dir=tmp_path, export_osz=True),
                        a_map(), None, 0, [])
    finally:
        os.umask(previous)
    assert [oct(p.stat().st_mode & 0o777) for p in result.written] == ["0o644", "0o644"]


# ----------------------------------------------------------------------------------- 8: full disks


def _full_disk_after(monkeypatch, target_suffix: str) -> None:
    """Writes to files ending in `target_suffix` (their temporary names) fail as on a full disk."""
    real_write = zipfile.ZipFile.write

    def full(self, filename, arcname=None, *args, **kwargs):
        if str(self.filename).endswith(target_suffix):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, filename, arcname, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "write", full)


def test_a_full_disk_during_the_osz_still_names_the_osu_kept(tmp_path, song, monkeypatch, capsys):
    import typer

    from mapperator_cli.errors import run_guarded
    from mapperator_cli.generate import _naming_files_kept

    _full_disk_after(monkeypatch, ".tmp")
    monkeypatch.setattr(sys, "argv", ["mapper"])
    app = typer.Typer()

    @app.command()
    def generate() -> None:
        with _naming_files_kept():
            write_output(GenerateRequest(audio=song, model="none", out_dir=tmp_path, export_osz=True), a_map(), None, 0, [])

    assert run_guarded(app) == 1
    out, err = capsys.readouterr()
    kept = [Path(line) for line in out.splitlines()]
    assert len(kept) == 1 and kept[0].suffix == ".osu" and kept[0].is_file()
    assert err.startswith("mapper: error: the disk is full writing ") and err.strip().endswith(".osz"), err
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".osu", ".wav"]  # no partial archive left


def test_a_full_disk_copying_the_song_names_the_copy_not_the_source(tmp_path, song, monkeypatch):
    import shutil

    from tokenization.atomic_files import write_atomic

    def full(source, target, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(source), None, str(target))

    monkeypatch.setattr(shutil, "copyfile", full)
    target = tmp_path / "set" / song.name
    with pytest.raises(OSError) as error:
        write_atomic(target, lambda temp: shutil.copyfile(song, temp))
    assert error.value.filename == str(target)
    assert list((tmp_path / "set").iterdir()) == []


# ----------------------------------------------------------------------------------- 7: archives


def test_an_osz_of_another_compression_method_is_refused_before_decompressing(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_LZMA) as archive:
        archive.writestr("map.osu", ONE_MAP)
    path = tmp_path / "lzma.osz"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(MapperInputError, match="compression method 14"):
        read_osz(path)


def test_the_huge_dictionary_lzma_osz_is_one_line_within_a_memory_limit():
    hostile = require_shared("fixtures", "hostile", "lzma-huge-dictionary.osz")
    script = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1536 * 2**20, 1536 * 2**20)); "
              "sys.argv = ['mapper', 'info', sys.argv[1]]; from mapperator_cli.app import main; main()")
    proc = subprocess.run([sys.executable, "-c", script, str(hostile)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "compression method 14" in proc.stderr, proc.stderr


def test_the_parity_slider_arithmetic_of_an_11k_object_map_stays_well_under_a_second():
    """Each slider is encoded once per tokenizer (v29 and v32 here): 2 x 8.4k end points. The old
    point-by-point arithmetic took 1.5-2 s of CPU for this; the check leaves room for slow machines."""
    from tokenization.beatmap import Slider
    from tokenization.legacy_curve import legacy_end_position

    sliders = [o for o in read_beatmap(require_shared("fixtures", "hostile", "slow-tokenize-catch-11k.osu")).hit_objects
               if isinstance(o, Slider)]
    started = time.process_time()
    ends = [legacy_end_position(s) for s in sliders] + [legacy_end_position(s) for s in sliders]
    assert time.process_time() - started < 0.9
    assert ends[:len(sliders)] == ends[len(sliders):]
