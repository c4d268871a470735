"""A short fuzz run in the suite (issue #19): corpus maps and mapsets mutated as `bench/fuzz.py` mutates
them must read, write, re-read, tokenize and unpack, or fail with mapper's own error, quickly.

Hypothesis draws the seed file and the mutation stream (so a failure shrinks to a small, replayable
case); `bench/fuzz.py --minutes N` runs the same cases for longer in a guarded worker process.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fuzz import classify, make_osz, mutate_osu, mutate_osz
from tests.conftest import corpus_beatmaps
from tests.minimal_inputs import beatmap

SMALL = [p.read_bytes() for p in corpus_beatmaps() if p.stat().st_size < 60_000][:120]
# Without ../shared: a slider, a spinner, a mania hold and two red lines still give mutations much to bite.
SEEDS = SMALL or [
    beatmap("256,192,1000,5,0,0:0:0:0:\n100,100,1500,2,0,B|200:200|300:100,2,250\n256,192,3000,12,0,4000,0:0:0:0:\n",
            timing="[TimingPoints]\n0,500,4,2,0,100,1,0\n2000,-50,4,2,0,80,0,1\n2500,300,3,1,0,60,1,0\n\n"),
    beatmap("64,192,1000,128,0,1500:0:0:0:0:\n", head="osu file format v14\n[General]\nMode: 3\n[Difficulty]\n"
            "CircleSize:4\n"),
]
CPU_SECONDS = 5.0  # the hang limit, in CPU time so that a busy CI machine does not fail the test
FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(seed=st.integers(0, len(SEEDS) - 1), stream=st.integers(0, 2**32 - 1), version=st.integers(0, 1))
def test_mutated_beatmaps_read_or_fail_cleanly(seed, stream, version):
    rng = random.Random(stream)
    data, how = mutate_osu(rng, SEEDS[seed])
    outcome, group = classify(f"osu{version}", data, CPU_SECONDS)
    assert outcome == "pass", f"{group} after {'+'.join(how)}"


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, len(SEEDS) - 1), stream=st.integers(0, 2**32 - 1))
def test_mutated_archives_unpack_or_fail_cleanly(seed, stream):
    rng = random.Random(stream)
    members = {"map.osu": SEEDS[seed], "other.osu": SEEDS[(seed + 1) % len(SEEDS)], "bg.jpg": bytes(range(256)) * 8}
    data, how = mutate_osz(rng, members)
    outcome, group = classify("osz", data, CPU_SECONDS)
    assert outcome == "pass", f"{group} after {'+'.join(how) or 'no mutation'}"


def test_the_harness_catches_what_it_should():
    """The checks can fail: a stray exception and a written copy we refuse are both reported."""
    assert classify("osz", make_osz({"a.osu": SEEDS[0]}, 8))[0] == "pass"
    outcome, group = classify("osu0", b"osu file format v14\n[HitObjects]\n" + b"\xff" * 10)
    assert outcome == "pass"  # bad input: mapper's own error
    import bench.fuzz as fuzz

    original = fuzz.run_osu
    try:
        fuzz.run_osu = lambda data, version=0: {}["missing"]
        outcome, group = classify("osu0", SEEDS[0])
    finally:
        fuzz.run_osu = original
    assert outcome == "fail" and group.startswith("KeyError at tests/test_fuzz.py:")
