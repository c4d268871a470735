"""A green (inherited) line before the first red line (issue 24, class 1), as the published
models' tokenizer reads it. Their parser (the `slider` library) gives each inherited point the
last red line before it as its parent, and the first point has none: a green line that opens
[TimingPoints] counts as a red line with its own negative beat length. So, until the first real
red line (and before the green line, where the first point governs):
- the snap test `|beats - round(beats*d)/d| * beat_length < 2 ms` holds at d = 1 (a negative
  product), so every object there has `snap:1`;
- its scroll speed is that of a red line, 1, and BPM-normalised by the median beat length over a
  negative beat length it clips to 0.01: `scroll_speed:1`; the first real red line then starts a
  second scroll-speed change (1 x median / its beat length);
- it has no tempo (`bpm` is None for negative beat lengths): no timing ticks.
The vectors below are built from that rule on a constructed mania map (the real map that showed
the class is held out)."""

from __future__ import annotations

import pytest

from profiles import load_profile
from tokenization.beatmap_to_events import BeatmapEncoder
from tokenization.events import ContextType
from tokenization.osu_reader import parse_beatmap
from tokenization.osu_writer import format_beatmap

MANIA = """osu file format v14

[General]
AudioFilename: audio.mp3
Mode: 3

[Difficulty]
HPDrainRate:8
CircleSize:4
OverallDifficulty:8
ApproachRate:5
SliderMultiplier:1.4
SliderTickRate:1

[TimingPoints]
350,-50,4,1,0,40,0,0
3580,400,4,1,0,100,1,0
5180,-200,4,1,0,100,0,0

[HitObjects]
64,192,100,1,0,0:0:0:0:
64,192,350,1,0,0:0:0:0:
192,192,1000,1,0,0:0:0:0:
320,192,2111,1,0,0:0:0:0:
448,192,3580,1,0,0:0:0:0:
64,192,3780,1,0,0:0:0:0:
192,192,5180,1,0,0:0:0:0:
320,192,20380,1,0,0:0:0:0:
"""

# (time, snap, column, volume) of each note: snap 1 before the red line at 3580 ms (the green line
# at 350 ms is the "red line" there, and governs the note at 100 ms too, being the first point)
NOTES = [(100, 1, 0, 40), (350, 1, 0, 40), (1000, 1, 1, 40), (2111, 1, 2, 40), (3580, 1, 3, 100),
         (3780, 2, 0, 100), (5180, 1, 1, 100), (20380, 1, 2, 100)]
# (time, snap, scroll speed x100): median beat length 400 ms; 1 x 400 / -50 clips to 0.01
SPEEDS = [(350, 1, 1), (3580, 1, 100), (5180, 1, 50)]


def _vector(version: str, context: ContextType) -> list[str]:
    types_first = load_profile(version).tokenizer.types_first
    out = []
    if context is ContextType.MAP:
        for time, snap, column, volume in NOTES:
            fields = [f"t:{time}", f"snap:{snap}", f"column:{column}", "hitsound:0", f"volume:{volume}"]
            out += ["circle:0"] + fields if types_first else fields + ["circle:0"]
    else:
        for time, snap, speed in SPEEDS:
            fields = [f"t:{time}", f"snap:{snap}", f"scroll_speed:{speed}"]
            out += ["scroll_speed_change:0"] + fields if types_first else fields + ["scroll_speed_change:0"]
    return out


@pytest.mark.parametrize("version", ["v29", "v32"])
@pytest.mark.parametrize("context", [ContextType.MAP, ContextType.SV])
def test_tokens_equal_the_vectors_of_the_rule(version, context):
    beatmap = parse_beatmap(MANIA)
    encoder = BeatmapEncoder(beatmap, load_profile(version).tokenizer)
    events = encoder.context(context).events
    assert [f"{e.type.value}:{e.value}" for e in events] == _vector(version, context)
    # no timing ticks from the green line, and the file keeps it as the green line it is
    ticks = [e.value for e in encoder.context(ContextType.TIMING).events if e.type.value == "t"]
    assert ticks[0] == 3580
    written = format_beatmap(beatmap)
    assert "350,-50,4,1,0,40,0,0" in written and parse_beatmap(written).timing_points == beatmap.timing_points

