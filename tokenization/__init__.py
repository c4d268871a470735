"""Beatmap formats (.osu/.osz), the Beatmap data model, events and the tokenizer. No torch here."""

from tokenization.beatmap import Beatmap
from tokenization.errors import MapperInputError, ParseError
from tokenization.osu_reader import parse_beatmap, read_beatmap
from tokenization.osu_writer import format_beatmap, write_beatmap
from tokenization.osz import extract_osz, read_osz, write_osz

__all__ = ["Beatmap", "MapperInputError", "ParseError", "extract_osz", "format_beatmap", "parse_beatmap",
           "read_beatmap", "read_osz", "write_beatmap", "write_osz"]
