"""Beatmap -> tokens -> beatmap over the whole corpus keeps every object within the quantisation."""

from __future__ import annotations

import math

import pytest

from profiles import load_profile
from tests.conftest import corpus_beatmaps, require_shared
from tokenization import read_beatmap
from tokenization.roundtrip import round_trip
from tokenization.tokenizer import Tokenizer
from tokenization.vocabulary import build_vocabulary

HALF_STEP_MS = 5  # times are 10 ms steps decoded at their middle


def _tokenizer(version: str) -> Tokenizer:
    profile = load_profile(version)
    vocab = build_vocabulary(profile.tokenizer, [(t.inputs, t.outputs) for t in profile.templates])
    return Tokenizer(vocab, profile.tokenizer)


def _position_bound(tokenizer: Tokenizer) -> float:
    s = tokenizer.settings
    if s.position_refinement:
        return s.position_refinement / 2 * math.sqrt(2)
    if s.position_split_axes:
        return s.position_precision * math.sqrt(2)  # truncated to the grid, decoded without a half step
    return s.position_precision / 2 * math.sqrt(2)  # decoded at the cell centre


@pytest.mark.parametrize("version", ["v29"])
def test_corpus_round_trip_within_quantisation(version, capsys):
    require_shared("corpus")
    tokenizer = _tokenizer(version)
    bound = _position_bound(tokenizer)
    worst: dict[str, list[float]] = {}
    failures = []
    for path in corpus_beatmaps():
        beatmap = read_beatmap(path)
        _, error = round_trip(beatmap, tokenizer)
        mode = beatmap.mode.name.lower()
        row = worst.setdefault(mode, [0.0, 0.0, 0, 0])
        row[0] = max(row[0], error.max_time_ms)
        row[1] = max(row[1], error.max_position_px)
        row[2] += error.objects
        row[3] += error.objects - error.kept
        if error.kept != error.objects or error.max_time_ms > HALF_STEP_MS:
            failures.append(f"{path.name}: {error}")
        elif beatmap.mode.value in (0, 2) and error.max_position_px > bound + 0.01:  # fractional (lazer) positions reach the bound
            failures.append(f"{path.name}: position error {error.max_position_px:.2f} px > {bound:.2f}")
        elif beatmap.mode.value == 3 and error.max_position_px > 0:
            failures.append(f"{path.name}: a note changed column")
    with capsys.disabled():
        for mode, (t, p, n, lost) in sorted(worst.items()):
            print(f"\n  {version} {mode:6s}: {n} objects, {lost} lost, worst time {t:.1f} ms, worst position {p:.2f} px")
    assert not failures, "\n".join(failures[:40])
