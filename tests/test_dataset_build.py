"""Building MMRS datasets: from the corpus, from small sources made here, resuming, bad files, checks."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile

from tests.conftest import require_shared
from tokenization import MapperInputError, format_beatmap
from tokenization.beatmap import Beatmap, Circle, GameMode, PathPoint, Slider, TimingPoint
from training import build_dataset, check_dataset, dataset_info, mmrs
from training import dataset_build as builder

SAMPLE_RATE_HZ = 22050


# ----------------------------------------------------------------------------------------------- sources

def beatmap_text(*, version: str, beatmap_id: int, set_id: int, audio: str, mode: GameMode = GameMode.OSU,
                 title: str = "Song", notes: int = 24) -> str:
    bm = Beatmap()
    bm.general.audio_filename = audio
    bm.general.mode = mode
    bm.metadata.title = bm.metadata.title_unicode = title
    bm.metadata.artist = bm.metadata.artist_unicode = "Artist"
    bm.metadata.creator = "Mapper"
    bm.metadata.version = version
    bm.metadata.tags = ["test", "synthetic"]
    bm.metadata.beatmap_id = beatmap_id
    bm.metadata.beatmap_set_id = set_id
    bm.difficulty.circle_size = 4
    bm.timing_points = [TimingPoint(0.0, 500.0)]  # 120 BPM
    objects = []
    for i in range(notes):
        x = 128 + (i * 37) % 256
        if mode == GameMode.OSU and i % 4 == 3:  # a 1/4-beat slider: 35 px at SliderMultiplier 1.4
            objects.append(Slider(x, 192, 250.0 * i, path=[PathPoint(x, 192), PathPoint(x + 35, 192)],
                                  length=35.0))
        else:
            objects.append(Circle(x, 192, 250.0 * i))
    bm.hit_objects = objects
    return format_beatmap(bm)


def write_wav(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SAMPLE_RATE_HZ)
    return path


def write_osz(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def make_sources(root: Path) -> Path:
    """An .osz (set 100: an osu! and a mania difficulty, 3 s of audio named with other case) and a
    folder with an unsubmitted .osu and 2 s of audio."""
    root.mkdir(parents=True, exist_ok=True)
    audio = write_wav(root / "tmp.wav", 3.0).read_bytes()
    (root / "tmp.wav").unlink()
    write_osz(root / "100 Artist - Song.osz", {
        "Song.WAV": audio,
        "Artist - Song (Mapper) [Normal].osu": beatmap_text(version="Normal", beatmap_id=1001, set_id=100,
                                                             audio="song.wav"),
        "Artist - Song (Mapper) [4K].osu": beatmap_text(version="4K", beatmap_id=1002, set_id=100,
                                                         audio="song.wav", mode=GameMode.MANIA, notes=40),
        "bg.jpg": b"\xff\xd8 not used",
    })
    local = root / "more" / "Local Song"
    local.mkdir(parents=True)
    write_wav(local / "audio.wav", 2.0)
    (local / "Other - Local (me) [Easy].osu").write_text(
        beatmap_text(version="Easy", beatmap_id=0, set_id=-1, audio="audio.wav", title="Local"))
    return root


@pytest.fixture
def sources(tmp_path) -> Path:
    return make_sources(tmp_path / "sources")


def read_rows(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / mmrs.METADATA_FILE)


# ----------------------------------------------------------------------------------------------- small builds

def test_build_from_osz_and_folder(sources, tmp_path):
    out = tmp_path / "dataset"
    calls = []
    report = build_dataset([sources], out, progress=lambda *args: calls.append(args))
    assert (report.sources, report.sets_added, report.beatmaps_added, report.skipped) == (2, 2, 3, [])
    assert calls[-1] == ("building", 2, 2)
    assert check_dataset(out) == []

    rows = read_rows(out)
    assert set(mmrs.REQUIRED_COLUMNS) <= set(rows.columns)
    by_version = rows.set_index("Version")
    normal, mania, easy = by_version.loc["Normal"], by_version.loc["4K"], by_version.loc["Easy"]
    assert (normal.BeatmapSetId, normal.Id, normal.ModeInt, normal.Mode) == (100, 1001, 0, "osu")
    assert (mania.BeatmapSetId, mania.Id, mania.ModeInt, mania.Mode) == (100, 1002, 3, "mania")
    assert normal.BeatmapSetFolder == mania.BeatmapSetFolder == "100 Artist - Song"
    assert normal.AudioFile == "Song.WAV"  # AudioFilename "song.wav" found regardless of case
    assert normal.AudioDuration == pytest.approx(3.0) and easy.AudioDuration == pytest.approx(2.0)
    assert (normal.CountCircles, normal.CountSliders, normal.CountSpinners) == (18, 6, 0)
    assert normal.Tags == "test synthetic" and normal.Creator == "Mapper"
    # Unsubmitted (ids 0 / -1): stable negative ids, a folder named after them.
    assert easy.BeatmapSetId < -1 and easy.Id < -1
    assert easy.BeatmapSetFolder == f"local{-easy.BeatmapSetId} Artist - Local"  # named from metadata
    for row in (normal, mania, easy):
        stars = list(row.StarRating)
        assert len(stars) == 7 and stars == sorted(stars) and stars[0] > 0
        assert row.DifficultyRating == stars[2]
        osu = out / "data" / row.BeatmapSetFolder / row.BeatmapFile
        assert hashlib.md5(osu.read_bytes()).hexdigest() == row.Checksum
    assert sorted(p.name for p in (out / "data" / "100 Artist - Song").iterdir()) == sorted(
        ["Song.WAV", "Artist - Song (Mapper) [Normal].osu", "Artist - Song (Mapper) [4K].osu"])  # no bg.jpg

    info = dataset_info(out)
    assert (info.beatmaps, info.sets, info.audio_files) == (3, 2, 2)
    assert info.maps_per_mode == {"osu": 2, "taiko": 0, "fruits": 0, "mania": 1}
    assert info.audio_minutes == pytest.approx(5.0 / 60)
    assert sum(b.count for b in info.star_histogram) == 3 and info.star_rating_unknown == 0
    assert info.mappers == {"Mapper": 3}
    assert info.years == {} and info.year_unknown == 3  # .osu files carry no dates
    json.dumps(info.to_dict())


def test_ids_are_stable_across_builds(sources, tmp_path):
    build_dataset([sources], tmp_path / "one")
    build_dataset([sources], tmp_path / "two")
    columns = ["BeatmapSetId", "Id", "BeatmapSetFolder", "BeatmapFile", "StarRating"]
    first, second = read_rows(tmp_path / "one")[columns], read_rows(tmp_path / "two")[columns]
    for frame in (first, second):
        frame["StarRating"] = frame["StarRating"].map(list)
    assert first.to_dict("records") == second.to_dict("records")


def test_second_run_does_no_work(sources, tmp_path, monkeypatch):
    out = tmp_path / "dataset"
    build_dataset([sources], out)
    written = (out / mmrs.METADATA_FILE).stat().st_mtime_ns

    def no_parsing(*args, **kwargs):
        raise AssertionError("a finished source was read again")

    monkeypatch.setattr(builder, "parse_beatmap", no_parsing)
    monkeypatch.setattr(builder, "star_ratings", no_parsing)
    report = build_dataset([sources], out)
    assert (report.sources_already_built, report.beatmaps_added, report.total_beatmaps) == (2, 0, 3)
    assert (out / mmrs.METADATA_FILE).stat().st_mtime_ns == written


def test_changed_source_is_rebuilt(sources, tmp_path):
    out = tmp_path / "dataset"
    build_dataset([sources], out)
    osu = next((sources / "more" / "Local Song").glob("*.osu"))
    osu.write_text(beatmap_text(version="Easier", beatmap_id=0, set_id=-1, audio="audio.wav", title="Local", notes=8))
    report = build_dataset([sources], out)
    assert (report.sources_already_built, report.sources_rebuilt, report.beatmaps_added) == (1, 1, 1)
    rows = read_rows(out)
    assert sorted(rows.Version) == ["4K", "Easier", "Normal"]
    assert check_dataset(out) == []  # the old set folder is gone, not orphaned


def test_interrupted_build_resumes(sources, tmp_path, monkeypatch):
    out = tmp_path / "dataset"
    real_add = builder._Builder.add
    calls = []

    def add_then_stop(self, source):
        if calls:
            raise KeyboardInterrupt
        calls.append(source)
        return real_add(self, source)

    monkeypatch.setattr(builder._Builder, "add", add_then_stop)
    with pytest.raises(KeyboardInterrupt):
        build_dataset([sources], out)
    assert len(read_rows(out)) in (1, 2)  # what finished before the interrupt was written
    (out / "data" / "leftover of a killed run").mkdir()
    assert [p.code for p in check_dataset(out)] == ["orphan"]

    monkeypatch.setattr(builder._Builder, "add", real_add)
    report = build_dataset([sources], out)
    assert (report.sources_already_built, report.total_beatmaps) == (1, 3)
    shutil.rmtree(out / "data" / "leftover of a killed run")
    assert check_dataset(out) == []


def test_source_interrupted_midway_is_built_whole_next_time(sources, tmp_path, monkeypatch):
    two_sets = sources / "two sets"
    two_sets.mkdir()
    write_wav(two_sets / "audio.wav", 1.0)
    for set_id in (200, 300):
        (two_sets / f"{set_id}.osu").write_text(
            beatmap_text(version=str(set_id), beatmap_id=set_id + 1, set_id=set_id, audio="audio.wav"))
    out = tmp_path / "dataset"
    real_link = builder._link_or_copy
    links = []

    def link_then_stop(source, target):
        if source.parent == two_sets.resolve():
            links.append(target)
            if len(links) == 2:
                raise KeyboardInterrupt  # while placing the second set of "two sets"
        real_link(source, target)

    monkeypatch.setattr(builder, "_link_or_copy", link_then_stop)
    with pytest.raises(KeyboardInterrupt):
        build_dataset([sources], out)
    assert len(links) == 2 and links[0].name == "audio.wav"  # the first set was placed, then it stopped
    assert "200" not in set(read_rows(out).Version)  # and that set was taken back
    assert not any(p.name.startswith("200 ") for p in (out / "data").iterdir())
    monkeypatch.setattr(builder, "_link_or_copy", real_link)
    report = build_dataset([sources], out)
    assert report.skipped == [] and report.total_beatmaps == 5
    assert check_dataset(out) == []


def test_bad_files_are_listed_not_fatal(sources, tmp_path):
    bad = sources / "bad"
    bad.mkdir()
    (bad / "garbage.osz").write_bytes(b"this is not a zip archive")
    write_osz(bad / "escape.osz", {"../../evil.osu": "x"})
    write_osz(bad / "empty.osz", {"readme.txt": "no beatmaps"})
    (bad / "garbage.osu").write_text("[General]\nAudioFilename: noise.wav\n[HitObjects]\n1,2,three\n")
    (bad / "noise.wav").write_bytes(b"RIFF not really a wav")
    (bad / "no audio (x) [y].osu").write_text(beatmap_text(version="y", beatmap_id=7, set_id=8, audio="gone.mp3"))
    (bad / "unreadable audio.osu").write_text(beatmap_text(version="z", beatmap_id=9, set_id=10, audio="noise.wav"))

    out = tmp_path / "dataset"
    report = build_dataset([sources], out)
    assert report.beatmaps_added == 3  # the good sources are all there
    reasons = {Path(s.path.split(".osz:")[0]).name: s.reason for s in report.skipped}
    assert "not a readable .osz" in reasons["garbage.osz"]
    assert "unsafe path" in reasons["escape.osz"]
    assert reasons["empty.osz"] == "archive holds no .osu file"
    assert "gone.mp3" in reasons["no audio (x) [y].osu"] and "not beside it" in reasons["no audio (x) [y].osu"]
    assert "unreadable" in reasons["unreadable audio.osu"]
    assert "line" in reasons["garbage.osu"] or "unreadable" in reasons["garbage.osu"]
    assert len(report.skipped) == 6
    assert check_dataset(out) == []


def test_duplicate_sets_and_maps_are_skipped(sources, tmp_path):
    shutil.copy(sources / "100 Artist - Song.osz", sources / "copy of 100.osz")
    twin = sources / "twin"
    twin.mkdir()
    shutil.copy(sources / "more" / "Local Song" / "audio.wav", twin / "audio.wav")
    shutil.copy(next((sources / "more" / "Local Song").glob("*.osu")), twin / "same map.osu")
    report = build_dataset([sources], tmp_path / "dataset")
    assert report.total_beatmaps == 3
    reasons = sorted(s.reason for s in report.skipped)
    assert sum("set 100 is already in the dataset" in r for r in reasons) == 2
    assert sum("is already in the dataset" in r for r in reasons) == 3  # the twin: same content, same local set id
    assert check_dataset(tmp_path / "dataset") == []


def test_refuses_unusable_arguments(sources, tmp_path):
    with pytest.raises(MapperInputError, match="no such file"):
        build_dataset([tmp_path / "missing"], tmp_path / "out")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(MapperInputError, match="not empty"):
        build_dataset([sources], foreign)
    assert (foreign / "notes.txt").read_text() == "mine"
    build_dataset([sources], tmp_path / "dataset")
    with pytest.raises(MapperInputError, match="inside the output folder"):
        build_dataset([tmp_path / "dataset" / "data"], tmp_path / "dataset")


def test_output_inside_a_source_is_not_read(sources):
    out = sources / "dataset"
    build_dataset([sources], out)
    report = build_dataset([sources], out)
    assert report.sources == 2 and report.sources_already_built == 2


def test_lock_of_a_running_build_is_respected(sources, tmp_path):
    out = tmp_path / "dataset"
    out.mkdir()
    (out / builder.LOCK_FILE).write_text(str(os.getppid()))  # a live process that is not us
    with pytest.raises(MapperInputError, match="another build"):
        build_dataset([sources], out)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    (out / builder.LOCK_FILE).write_text(finished.stdout.strip())  # its process is gone: stale
    assert build_dataset([sources], out).beatmaps_added == 3
    assert not (out / builder.LOCK_FILE).exists()


def test_names_are_safe():
    assert builder.set_folder_name(5, "A/B: C", "T.i?tle ") == "5 AB C - Title"  # as Mapperator strips them
    assert builder.set_folder_name(-42, "", "") == "local42"
    assert len(builder.set_folder_name(1, "x" * 300, "y").encode()) <= builder.MAX_FOLDER_NAME_BYTES
    assert builder.safe_file_name("../sub\\evil<>.osu", "f.osu") == "evil__.osu"
    assert builder.safe_file_name("..", "f.osu") == "f.osu"
    long = builder.safe_file_name("é" * 300 + ".osu", "f.osu")
    assert long.endswith(".osu") and len(long.encode()) <= builder.MAX_FILE_NAME_BYTES
    assert builder.local_id("x") == builder.local_id("x") < -1


# ----------------------------------------------------------------------------------------------- checks

def test_check_names_every_problem(sources, tmp_path):
    out = tmp_path / "dataset"
    build_dataset([sources], out)
    rows = read_rows(out)
    normal = rows[rows.Version == "Normal"].iloc[0]
    mania = rows[rows.Version == "4K"].iloc[0]
    easy = rows[rows.Version == "Easy"].iloc[0]
    (out / "data" / normal.BeatmapSetFolder / normal.BeatmapFile).unlink()
    with open(out / "data" / mania.BeatmapSetFolder / mania.BeatmapFile, "a") as handle:
        handle.write("\n")
    (out / "data" / easy.BeatmapSetFolder / easy.AudioFile).write_bytes(b"broken")
    (out / "data" / "stray").mkdir()

    problems = check_dataset(out)
    codes = sorted(p.code for p in problems)
    assert codes == ["bad-audio", "checksum", "missing-file", "orphan"]
    assert all(p.message and p.path for p in problems)
    assert any(normal.BeatmapFile in p.message for p in problems if p.code == "missing-file")


def test_check_finds_bad_metadata(sources, tmp_path):
    out = tmp_path / "dataset"
    build_dataset([sources], out)
    table = pq.read_table(out / mmrs.METADATA_FILE)
    frame = table.to_pandas()
    normal, mania, easy = (frame.index[frame.Version == v][0] for v in ("Normal", "4K", "Easy"))
    frame.loc[mania, "Id"] = frame.loc[normal, "Id"]
    frame.loc[easy, "BeatmapSetId"] = 100  # now set 100 lies in two folders with two audio files
    frame.at[normal, "StarRating"] = [1.0, 2.0]
    frame.loc[mania, "BeatmapFile"] = "../../outside.osu"
    frame.to_parquet(out / mmrs.METADATA_FILE)
    problems = check_dataset(out)
    assert sorted(p.code for p in problems) == ["bad-star-rating", "duplicate-id", "split-set", "split-set",
                                                 "unsafe-path"]
    messages = " | ".join(p.message for p in problems)
    assert "set 100, beatmap 1001: 2 rows" in messages
    assert "2 folders" in messages and "2 audio files" in messages and "outside.osu" in messages

    frame.drop(columns=["StarRating", "AudioFile"]).to_parquet(out / mmrs.METADATA_FILE)
    problems = check_dataset(out)
    assert [p.code for p in problems] == ["missing-column", "missing-column"]
    assert "AudioFile" in problems[1].message
    assert [p.code for p in check_dataset(tmp_path / "nowhere")] == ["not-found"]
    assert [p.code for p in check_dataset(sources)] == ["no-metadata"]


def test_reader_gives_the_training_view(sources, tmp_path):
    out = tmp_path / "dataset"
    build_dataset([sources], out)
    frame = mmrs.read_metadata(out)
    assert list(frame.BeatmapIdx) == [0, 1, 2]
    indexed = mmrs.index_by_set(frame)
    assert indexed.index.is_unique and indexed.index.is_monotonic_increasing
    row = indexed.loc[(100, 1001)]
    assert mmrs.beatmap_path(out, row).is_file() and mmrs.audio_path(out, row).is_file()


# ----------------------------------------------------------------------------------------------- corpus

@pytest.fixture(scope="module")
def corpus_build(tmp_path_factory):
    corpus = require_shared("corpus")
    out = tmp_path_factory.mktemp("corpus") / "dataset"
    report = build_dataset([corpus], out)
    return corpus, out, report


def test_corpus_builds_a_sound_dataset(corpus_build):
    corpus, out, report = corpus_build
    entries = json.loads((corpus / "manifest.json").read_text())["entries"]
    with_audio = {e["path"]: e for e in entries if e["audio"] is not None}
    without_audio = {e["path"] for e in entries if e["audio"] is None}
    assert len(entries) == 360

    assert check_dataset(out) == []
    rows = pd.read_parquet(out / mmrs.METADATA_FILE)
    # Every corpus map whose audio is in the corpus is built; every one without it is skipped as such.
    assert len(rows) == report.total_beatmaps == len(with_audio)
    skipped = {str(Path(s.path).relative_to(corpus)): s.reason for s in report.skipped}
    assert set(skipped) == without_audio
    assert all("audio" in reason for reason in skipped.values())
    assert len(skipped) + len(rows) == len(entries)

    # Files are copied byte for byte, and the star ratings agree with the manifest's (rosu-pp 4.0).
    by_hash = {e["sha256"]: e for e in with_audio.values()}
    for row in rows.itertuples():
        data = (out / "data" / row.BeatmapSetFolder / row.BeatmapFile).read_bytes()
        entry = by_hash[hashlib.sha256(data).hexdigest()]
        assert row.DifficultyRating == pytest.approx(entry["star_rating"], abs=1e-3)
        assert row.ModeInt == entry["mode"]
        assert row.AudioDuration == pytest.approx(entry["audio_duration_s"], abs=0.01)
    assert len({hashlib.sha256((out / "data" / r.BeatmapSetFolder / r.BeatmapFile).read_bytes()).hexdigest()
                for r in rows.itertuples()}) == len(rows)


def test_corpus_info_and_resume(corpus_build):
    corpus, out, report = corpus_build
    info = dataset_info(out)
    rows = pd.read_parquet(out / mmrs.METADATA_FILE)
    assert info.beatmaps == len(rows) and info.sets == rows.BeatmapSetId.nunique()
    assert sum(info.maps_per_mode.values()) == len(rows)
    assert info.audio_minutes > 1 and info.audio_unknown == 0
    again = build_dataset([corpus], out)
    assert (again.beatmaps_added, again.sources_already_built) == (0, report.sources)
