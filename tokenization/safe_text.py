"""Text from users and from other people's beatmaps, made safe for a one-line `.osu` field and for a
file name.

A title is one line of a text file: a newline in `--title` would start new lines (an injected
`[HitObjects]` makes the map unreadable), and control characters (ANSI escapes, which recolour a
terminal that prints the name) or bidirectional overrides (U+202E shows "gpj.exe" as "exe.jpg")
have no business in a field or a file name. Names are cut by their UTF-8 bytes, since the
filesystem's limit (255 bytes) counts bytes: 150 Japanese characters are 450.
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL; the bidi embeddings, overrides and isolates (U+202A-E, U+2066-9);
# line and paragraph separators. Marks such as U+200E/F and joiners (U+200C/D) stay: real titles
# in Arabic, Hebrew or with emoji hold them.
_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\x1c-\x1e\x85\u2028\u2029]+")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NOT_IN_NAMES = re.compile(r'[<>:"/\\|?*]')
MAX_STEM_BYTES = 150  # leaves room for " (12).osz", a temporary name's parts and NAME_MAX's 255


def one_line(text: str) -> str:
    """`text` as one line: line breaks and tabs become a space, other controls are dropped."""
    return _CONTROLS.sub("", _LINE_BREAKS.sub(" ", text))


def cut_to_bytes(text: str, limit: int) -> str:
    """The longest prefix of `text` whose UTF-8 form fits in `limit` bytes (never half a character)."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def safe_filename(text: str, max_bytes: int = MAX_STEM_BYTES) -> str:
    """A file name (without suffix) valid on every system, at most `max_bytes` UTF-8 bytes."""
    cleaned = _NOT_IN_NAMES.sub("_", one_line(text)).strip(" .")
    return cut_to_bytes(cleaned, max_bytes).rstrip(" .") or "beatmap"
