"""A song's own title and artist from its tags (ID3 for mp3, Vorbis comments for ogg/opus/flac, the
INFO/ID3 chunks of wav, MP4 atoms), read with mutagen, for a beatmap made without a reference map.

osu! keeps a romanised (ASCII) title and artist beside the ones in their own script, so text that
is not ASCII goes to the unicode fields and its ASCII transliteration (accents dropped) to the plain
ones."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SongTags:
    title: str | None = None
    artist: str | None = None
    title_unicode: str | None = None
    artist_unicode: str | None = None


def read_song_tags(path: Path) -> SongTags:
    """The tags of `path`; empty where it has none or mutagen cannot read it (a missing tag is not an error)."""
    try:
        import mutagen

        song = mutagen.File(str(path), easy=True)
    except Exception:  # noqa: BLE001 - any unreadable tag block means "no tags", never a failed run
        return SongTags()
    if song is None or not song.tags:
        return SongTags()
    title, artist = _first(song.tags, "title"), _first(song.tags, "artist")
    if hasattr(song.tags, "getall"):  # ID3 inside a container mutagen has no "easy" keys for (wav, aiff)
        title = title or _first(song.tags, "TIT2")
        artist = artist or _first(song.tags, "TPE1")
    title, title_unicode = _split(title)
    artist, artist_unicode = _split(artist)
    return SongTags(title, artist, title_unicode, artist_unicode)


def _first(tags, key: str) -> str | None:
    try:
        values = tags.get(key) or []
    except (KeyError, ValueError):
        return None
    if isinstance(values, str):
        values = [values]
    values = getattr(values, "text", values)  # an ID3 frame holds its strings in .text
    text = next((str(v).strip() for v in values if str(v).strip()), None)
    return text


def _split(text: str | None) -> tuple[str | None, str | None]:
    """(ASCII text, text in its own script or None when it is ASCII already)."""
    if text is None:
        return None, None
    if text.isascii():
        return text, None
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().strip()
    return folded or None, text
