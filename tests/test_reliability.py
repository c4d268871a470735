"""Issue #19: every minimal input that once hung, blew up or raised a stray exception now reads
(maybe with a warning naming file, line and field) or fails with one clear line, quickly."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.minimal_inputs import osu_inputs
from tokenization import read_beatmap
from tokenization.beatmap_to_events import BeatmapEncoder
from tokenization.errors import MapperInputError
from tokenization.events import ContextType
from tokenization.osu_reader import parse_beatmap
from tokenization.osu_writer import format_beatmap
from tokenization.settings import TokenizerSettings

INPUTS = osu_inputs()
# name -> (expected outcome, text the warning or error holds)
EXPECTED = {
    "ticks_to_int_max": ("error", "beats"),
    "slider_1e9_ms": ("warning", "line 15: slider would end at"),
    "slider_1e9_ms_within_range": ("error", "sliders, spinners and holds last 1e+09 ms in all (limit 100000000)"),
    "slides_100000": ("warning", "line 14: value 100000 is out of range (limit 9000) (field slides)"),
    "control_points_750k": ("warning", "line 14: slider has 750000 control points"),
    "points_16mb": ("error", "more than 200000 lines in [HitObjects]"),
    "slider_multiplier_1e-300": ("warning", "(field length); hit object skipped"),
    "beat_length_1e-300": ("read", ""),
    "version_superscript": ("error", "bad format version"),
    "nul_after_4kb": ("warning", "NUL characters removed"),
    "object_at_-5162220307": ("warning", "line 15: value -5162220307 is out of range"),
}
V32_LIKE = TokenizerSettings(sustain_interval=8000, slider_version=2, types_first=False, add_timing=True)


def _full_pipeline(data: bytes, name: str) -> None:
    """read -> write -> read -> events of every context, as the fuzz campaign ran it."""
    beatmap = parse_beatmap(data, path=name)
    again = parse_beatmap(format_beatmap(beatmap).encode(), path=name + " (written)")
    assert again.hit_objects == beatmap.hit_objects and again.timing_points == beatmap.timing_points
    for settings in (TokenizerSettings(), V32_LIKE):
        encoder = BeatmapEncoder(again, settings)
        for context in ContextType:
            encoder.context(context)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_minimal_input_reads_or_fails_clearly_and_fast(name):
    outcome, text = EXPECTED[name]
    started = time.process_time()  # CPU time: a machine busy with other work must not fail the test
    if outcome == "error":
        with pytest.raises(MapperInputError) as caught:
            _full_pipeline(INPUTS[name], name)
        message = str(caught.value)
        assert text in message and message.startswith(name) and "\n" not in message
    else:
        _full_pipeline(INPUTS[name], name)
        warnings = parse_beatmap(INPUTS[name], path=name).parse_warnings
        if outcome == "warning":
            assert any(text in w and w.startswith(name) for w in warnings), warnings
    assert time.process_time() - started < 2.0


def test_out_of_range_object_is_skipped_and_the_rest_read():
    beatmap = parse_beatmap(INPUTS["object_at_-5162220307"], path="aspire.osu")
    assert [obj.time for obj in beatmap.hit_objects] == [1000, 2000]
    assert beatmap.parse_warnings == ["aspire.osu:line 15: value -5162220307 is out of range (limit 2.14748e+09) "
                                      "(field time); hit object skipped"]


def test_malformed_numbers_still_refuse_the_file():
    with pytest.raises(MapperInputError, match="not a number"):
        parse_beatmap(INPUTS["object_at_-5162220307"].replace(b"-5162220307", b"12x"), path="bad.osu")


@pytest.mark.parametrize("name", ["ticks_to_int_max", "version_superscript", "object_at_-5162220307"])
def test_cli_on_minimal_inputs(tmp_path, name):
    path = tmp_path / f"{name}.osu"
    path.write_bytes(INPUTS[name])
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "info", str(path), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in proc.stderr
    if EXPECTED[name][0] == "error":
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("mapper: error:")
    else:
        assert proc.returncode == 0, proc.stderr
    assert time.perf_counter() - started < 20  # interpreter start-up included; the work itself is < 2 s


def test_read_beatmap_of_a_written_copy_is_never_refused(tmp_path):
    from tokenization.osu_writer import write_beatmap

    original = tmp_path / "nul.osu"
    original.write_bytes(INPUTS["nul_after_4kb"])
    copy = write_beatmap(read_beatmap(original), tmp_path / "copy.osu")
    assert read_beatmap(copy).hit_objects == read_beatmap(original).hit_objects


BIG = "|".join(f"{i % 500}:{i * 7 % 380}" for i in range(20_000))


@pytest.mark.parametrize("curve", [
    "B|2000000000:2000000000|-2000000000:2000000000",  # subdivides for ever at 0.25 px tolerance
    "P|2000000000:1|-2000000000:2",  # a radius beyond float precision: division by zero
    "B|" + BIG, "B16|" + BIG, "B19000|" + BIG, "C|" + BIG,  # n^2 subdivision, de Boor and Catmull loops
])
def test_slider_geometry_of_extreme_curves_is_bounded(curve):
    from tokenization.slider_path import SliderPath

    slider = parse_beatmap(f"osu file format v14\n[HitObjects]\n0,0,1000,2,0,{curve},1,100000").hit_objects[0]
    started = time.process_time()
    path = SliderPath.of(slider)
    assert len(path.points) >= 1 and time.process_time() - started < 2.0
