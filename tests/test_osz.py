"""`.osz` archives: reading, writing, and extraction that nothing can escape or blow up."""

from __future__ import annotations

import stat
import zipfile

import pytest

from tokenization import MapperInputError, extract_osz, format_beatmap, read_osz, write_osz
from tokenization.beatmap import Beatmap, Circle


def small_beatmap() -> Beatmap:
    bm = Beatmap()
    bm.metadata.title = "Song"
    bm.hit_objects = [Circle(256, 192, 1000.0)]
    return bm


def test_write_then_read(tmp_path):
    path = write_osz({"a.osu": format_beatmap(small_beatmap()), "audio.mp3": b"\x00" * 10}, tmp_path / "set.osz")
    maps = read_osz(path)
    assert [name for name, _ in maps] == ["a.osu"]
    assert maps[0][1].metadata.title == "Song"
    with pytest.raises(FileExistsError):
        write_osz({"a.osu": "x"}, path)


@pytest.mark.parametrize("member", ["../evil.txt", "/abs/evil.txt", "sub/../../evil.txt"])
def test_traversal_is_refused(tmp_path, member):
    path = tmp_path / "bad.osz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, "x")
    with pytest.raises(MapperInputError, match="unsafe path"):
        extract_osz(path, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_symlink_member_is_refused(tmp_path):
    path = tmp_path / "link.osz"
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(MapperInputError, match="symbolic link"):
        extract_osz(path, tmp_path / "out")


def test_zip_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.osz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\x00" * (20 * 1024 * 1024))
    with pytest.raises(MapperInputError, match="compression ratio"):
        extract_osz(path, tmp_path / "out")


def test_junk_members_are_skipped_and_extraction_works(tmp_path):
    path = tmp_path / "set.osz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("__MACOSX/._a.osu", "junk")
        archive.writestr("._b.osu", "junk")
        archive.writestr("sub/a.osu", format_beatmap(small_beatmap()))
    files = extract_osz(path, tmp_path / "out")
    assert [f.relative_to(tmp_path / "out").as_posix() for f in files] == ["sub/a.osu"]
    assert len(read_osz(path)) == 1


def test_not_a_zip(tmp_path):
    path = tmp_path / "x.osz"
    path.write_bytes(b"not a zip")
    with pytest.raises(MapperInputError, match="not a readable .osz"):
        read_osz(path)
