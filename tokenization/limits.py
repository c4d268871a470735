"""What a beatmap may hold: osu!'s own limits, and bounds no real map reaches.

The reader checks these once; every later loop (slider repeats, beat ticks, sustain tokens, curve
points, objects) may then rely on them, so that no tiny file can make reading, writing or
tokenizing run for ever or exhaust memory. The corpus peaks are given for scale.
"""

from __future__ import annotations

from tokenization.beatmap import Beatmap, Circle
from tokenization.errors import ParseError

MAX_FILE_BYTES = 64 * 1024 * 1024
# osu!'s limits: lines beyond them are skipped, as osu! skips them
MAX_COORDINATE = 2**31 - 1  # osu! pixels; lazer stops at 131072, but real "aspire" maps go far beyond it
MAX_TIME_MS = 2**31 - 1  # osu! keeps times in 32-bit milliseconds; objects must also end within them
MAX_SLIDES = 9000  # lazer refuses a slider line beyond 9000 ("repeat count is way too high")
MAX_SLIDER_LENGTH = 1e9  # px (aspire maps reach 5e7)
MAX_BEAT_LENGTH = 1e9  # ms
# Bounds a real map never reaches (the corpus peaks at 14,773 objects, 11,962 timing points, 2,383
# control points, 15,000 beats and 27 minutes of long objects).
MAX_HIT_OBJECTS = 200_000
MAX_TIMING_POINTS = 200_000
MAX_CONTROL_POINTS = 20_000  # per slider; a longer line is skipped
MAX_BEATS = 250_000  # beats of the red lines over the map (each becomes a timing tick)
MIN_COUNTED_BEAT_MS = 6.0  # lazer clamps beat lengths to 6 ms; faster "tempos" do not add beats
MAX_SUSTAINED_MS = 100_000_000  # sliders, spinners and holds together; sustain tokens follow this


def check_sizes(text: str, path: str | None) -> None:
    """Refuse, before parsing, a file with more objects or timing points than any real map: reading
    them all would take seconds and gigabytes first."""
    for section, limit in (("[HitObjects]", MAX_HIT_OBJECTS), ("[TimingPoints]", MAX_TIMING_POINTS)):
        start = text.find(section)
        if start < 0:
            continue
        end = text.find("\n[", start)
        end = len(text) if end < 0 else end
        if text.count("\n", start, end) <= limit:  # cheap upper bound; the exact count is rare
            continue
        entries = sum(1 for line in text[start:end].splitlines()[1:]
                      if line.strip() and not line.lstrip().startswith("//"))
        if entries > limit:
            raise ParseError(f"more than {limit} lines in {section}; no real map holds that many", path=path)


def check_extent(bm: Beatmap, path: str | None) -> None:
    """Refuse a map whose beats or long objects are far beyond any real map's: tokenizing it would
    make millions of tick or sustain tokens."""
    end = max((tp.time + 10 for tp in bm.timing_points), default=0.0)
    end = max([end, *(obj.end_time for obj in bm.hit_objects)])
    start = min([0.0, *(obj.time for obj in bm.hit_objects)])
    reds = [tp for tp in bm.timing_points if tp.uninherited and tp.beat_length > 0]
    beats = 0.0
    for index, red in enumerate(reds):
        since = min(red.time, start) if index == 0 else red.time  # the first tempo also reaches back
        until = reds[index + 1].time if index + 1 < len(reds) else end
        beats += max(0.0, until - since) / max(red.beat_length, MIN_COUNTED_BEAT_MS)
    if beats > MAX_BEATS:
        raise ParseError(f"its timing spans {beats:.0f} beats up to its end at {end:g} ms (limit {MAX_BEATS}); "
                         "no real map is that long", path=path)
    sustained = sum(obj.end_time - obj.time for obj in bm.hit_objects if not isinstance(obj, Circle))
    if sustained > MAX_SUSTAINED_MS:
        raise ParseError(f"its sliders, spinners and holds last {sustained:g} ms in all (limit {MAX_SUSTAINED_MS})",
                         path=path)
