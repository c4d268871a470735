"""Property: any beatmap the writer emits re-reads to the same data, for every game mode."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenization import format_beatmap, parse_beatmap
from tokenization.beatmap import (
    Beatmap,
    Break,
    Circle,
    CurveType,
    EdgeSound,
    GameMode,
    HitSample,
    HoldNote,
    PathPoint,
    Slider,
    Spinner,
    TimingPoint,
)

coords = st.integers(-512, 1024).map(float) | st.floats(-512, 1024, allow_nan=False).map(lambda v: round(v, 4))
times = st.integers(0, 600_000).map(float) | st.floats(0, 600_000, allow_nan=False).map(lambda v: round(v, 3))
safe_text = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\r\n"),
                    max_size=30).map(str.strip)
samples = st.builds(HitSample, normal_set=st.integers(0, 3), addition_set=st.integers(0, 3),
                    index=st.integers(0, 100), volume=st.integers(0, 100),
                    filename=st.sampled_from(["", "kick.wav", "s-1.ogg"]))
common = dict(x=coords, y=coords, time=times, new_combo=st.booleans(), combo_skip=st.integers(0, 7),
              hitsound=st.integers(0, 15), sample=samples)
circles = st.builds(Circle, **common)


@st.composite
def sliders(draw):
    head = PathPoint(draw(coords), draw(coords), draw(st.sampled_from(list(CurveType))))
    rest = draw(st.lists(st.builds(PathPoint, coords, coords, st.none() | st.sampled_from(list(CurveType))),
                         min_size=1, max_size=6))
    slides = draw(st.integers(1, 5))
    edges = [EdgeSound(draw(st.integers(0, 15)), draw(st.integers(0, 3)), draw(st.integers(0, 3)))
             for _ in range(slides + 1)]
    values = {k: draw(v) for k, v in common.items()}
    values.update(x=head.x, y=head.y)
    return Slider(**values, path=[head, *rest], slides=slides, length=draw(st.floats(0, 2000).map(lambda v: round(v, 5))),
                  edge_sounds=edges)


@st.composite
def spinners(draw):
    values = {k: draw(v) for k, v in common.items()}
    return Spinner(**values, spinner_end=values["time"] + draw(st.integers(0, 10_000)))


@st.composite
def holds(draw):
    values = {k: draw(v) for k, v in common.items()}
    return HoldNote(**values, hold_end=values["time"] + draw(st.integers(0, 10_000)))


timing_points = st.builds(
    TimingPoint, time=times,
    beat_length=st.floats(1, 5000).map(lambda v: round(v, 6)) | st.floats(-1000, -10).map(lambda v: round(v, 6)),
    meter=st.integers(1, 16), sample_set=st.integers(0, 3), sample_index=st.integers(0, 100),
    volume=st.integers(0, 100), uninherited=st.booleans(), effects=st.sampled_from([0, 1, 8, 9]),
).map(lambda tp: tp if (tp.beat_length > 0) == tp.uninherited else
      TimingPoint(tp.time, abs(tp.beat_length) if tp.uninherited else -abs(tp.beat_length), tp.meter, tp.sample_set,
                  tp.sample_index, tp.volume, tp.uninherited, tp.effects))

objects_by_mode = {
    GameMode.OSU: circles | sliders() | spinners(),
    GameMode.TAIKO: circles | sliders() | spinners(),
    GameMode.CATCH: circles | sliders() | spinners(),
    GameMode.MANIA: circles | holds(),
}


@st.composite
def beatmaps(draw):
    bm = Beatmap()
    bm.general.mode = draw(st.sampled_from(list(GameMode)))
    bm.general.audio_filename = draw(st.sampled_from(["audio.mp3", "song name.ogg"]))
    bm.general.preview_time = draw(st.integers(-1, 100_000))
    bm.metadata.title = draw(safe_text)
    bm.metadata.title_unicode = draw(safe_text)
    bm.metadata.artist = draw(safe_text)
    bm.metadata.creator = draw(safe_text)
    bm.metadata.version = draw(safe_text)
    bm.metadata.tags = draw(st.lists(st.text("abcdefghijk日本語", min_size=1, max_size=8), max_size=5))
    bm.difficulty.circle_size = draw(st.integers(1, 10).map(float))
    bm.difficulty.slider_multiplier = draw(st.sampled_from([0.4, 1.0, 1.4, 1.8, 3.6]))
    bm.events.breaks = [Break(s, s + 2000.0) for s in draw(st.lists(st.integers(0, 100_000).map(float), max_size=2))]
    bm.timing_points = sorted(draw(st.lists(timing_points, max_size=8)), key=lambda tp: tp.time)
    bm.combo_colours = draw(st.lists(st.tuples(*[st.integers(0, 255)] * 3), max_size=4))
    bm.hit_objects = draw(st.lists(objects_by_mode[bm.general.mode], max_size=12))
    return bm


def comparable(bm: Beatmap) -> dict:
    data = {
        "mode": bm.general.mode, "meta": vars(bm.metadata), "diff": vars(bm.difficulty),
        "breaks": [vars(b) for b in bm.events.breaks], "colours": bm.combo_colours,
        "timing": [vars(tp) for tp in bm.timing_points], "objects": [],
    }
    for obj in bm.hit_objects:
        row = {k: v for k, v in vars(obj).items() if k not in ("duration", "sample", "path", "edge_sounds")}
        row["kind"] = type(obj).__name__
        row["sample"] = vars(obj.sample)
        if isinstance(obj, Slider):
            row["path"] = [vars(p) for p in obj.path]
            row["edges"] = [vars(e) for e in obj.edge_sounds]
        data["objects"].append(row)
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(beatmaps())
def test_written_beatmaps_read_back_identically(beatmap):
    text = format_beatmap(beatmap)
    again = parse_beatmap(text)
    assert comparable(again) == comparable(beatmap)
    assert format_beatmap(again) == text  # and writing is stable
