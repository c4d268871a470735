"""Whole-song parity with the original (../shared/fixtures/e2e): its greedy runs on two corpus songs
with a timing reference, v29 and v32 tiny checkpoints, every decoder call logged.

- Replaying the original's generated ids through our control flow must give every call's prompt,
  window and time zones, and the objects it wrote (fast: no model).
- Our model and decoding rules must write the same ids: one whole run through `mapper generate
  --trace`, and a spread of calls of the other runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import models.generation.generator as generation
import models.loading as loading
from models.decoding.batch import DecodeResult
from models.decoding.decoder import Decoder
from models.pipeline.request import GenerateRequest
from models.pipeline.run import run_generation
from tests.conftest import SHARED, require_shared
from tokenization import read_beatmap

RUNS = ["v29-tiny-favorite-liar", "v29-tiny-circle-the-halls", "v32-tiny-favorite-liar", "v32-tiny-circle-the-halls"]


def _log(run: str) -> dict:
    return json.loads(require_shared("fixtures", "e2e", f"{run}-greedy.calls.json").read_text())


def _inputs(run: str, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The song exactly as the original decoded it (a 16 kHz WAV of its integers), its reference
    map and the checkpoint."""
    song = run.split("-tiny-")[1]
    samples = np.load(require_shared("fixtures", "e2e", f"{song}.audio16k_int.npy"))
    wav = tmp_path / f"{song}.wav"
    sf.write(wav, samples.astype(np.int16), 16_000, subtype="PCM_16")
    args = dict(a.split("=", 1) for a in _log(run)["hydra_args"][1:])
    reference = SHARED / args["beatmap_path"].strip('"')
    return wav, reference, require_shared("fixtures", f"ref-{run.split('-')[0]}-tiny")


def _objects(path: Path) -> list[tuple]:
    """What a player gets of each object, in time order (the original writes them in stream order).
    The sample index is left out: the original writes -1 there, mapper 0 ("the timing point's")."""
    return sorted((o.time, o.x, o.y, type(o).__name__, o.new_combo, o.hitsound, o.sample.normal_set,
                   o.sample.addition_set) for o in read_beatmap(path).hit_objects)


def _generate(run: str, tmp_path: Path, decoder_class, monkeypatch, fake_model: bool):
    wav, reference, checkpoint = _inputs(run, tmp_path)
    monkeypatch.setattr(generation, "Decoder", decoder_class)
    if fake_model:
        class NoModel:  # the replay never runs the model
            def encode(self, frames, **conditioning):
                return None

        monkeypatch.setattr(loading, "load_model", lambda *args, **kwargs: NoModel())
    out = tmp_path / "out"
    out.mkdir()
    trace = tmp_path / "calls.jsonl"
    request = GenerateRequest(audio=wav, model=str(checkpoint), out_dir=out, reference=reference,
                              in_context=["timing"], seed=0, greedy=True, super_timing=False, refine=False,
                              trace=trace)
    result = run_generation(request)
    return [json.loads(line) for line in trace.read_text().splitlines()], result


def _replayer(calls: list[dict], checked: set[int] | None = None, mismatches: list | None = None):
    """A decoder that answers each call with the original's ids; on the `checked` calls it also
    decodes for real and records any difference."""
    count = iter(range(len(calls)))

    class Replay(Decoder):
        def run(self, frames, requests, max_new_tokens, **kwargs):
            index = next(count)
            expected = calls[index]["generated_ids"]
            if checked is not None and index in checked:
                got = super().run(frames, requests, max_new_tokens, **kwargs)[0].tokens
                if got != expected:
                    mismatches.append((index, got[:20], expected[:20]))
            return [DecodeResult(list(expected), True)]

    return Replay


@pytest.mark.parametrize("run", RUNS)
def test_every_prompt_and_window_equals_the_original(run, tmp_path, monkeypatch):
    calls = _log(run)["calls"]
    records, result = _generate(run, tmp_path, _replayer(calls), monkeypatch, fake_model=True)
    assert len(records) == len(calls)
    for index, (ours, theirs) in enumerate(zip(records, calls)):
        where = f"{run} call {index} ({theirs['context_type']} window {theirs['window_index']})"
        assert (ours["pass"], ours["window_index"], ours["window_start_ms"]) == (
            theirs["context_type"], theirs["window_index"], theirs["frame_time_ms"]), where
        assert ours["lookback_ms"] == pytest.approx(theirs["lookback_time"]), where
        assert ours["lookahead_ms"] == pytest.approx(theirs["lookahead_time"]), where
        assert ours["prompt_ids"] == theirs["prompt_ids"], where
    assert _objects(result.path) == _objects(require_shared("fixtures", "e2e", f"{run}-greedy.osu"))


def _timing_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return text[text.index("[TimingPoints]"):].split("\n\n")[0].splitlines()[1:]


@pytest.mark.parametrize("run", RUNS)
def test_written_timing_points_equal_the_original(run, tmp_path, monkeypatch):
    """Every red line, volume, SV and kiai change as the original writes them: each object's volume
    a change that also holds for later points, a change before the first red line moving it back by
    whole measures (models.postprocess.timing_changes)."""
    _, result = _generate(run, tmp_path, _replayer(_log(run)["calls"]), monkeypatch, fake_model=True)
    assert _timing_lines(result.path) == _timing_lines(require_shared("fixtures", "e2e", f"{run}-greedy.osu"))


@pytest.mark.slow
@pytest.mark.parametrize("run", ["v29-tiny-favorite-liar", "v29-tiny-circle-the-halls", "v32-tiny-favorite-liar"])
def test_our_model_writes_the_original_ids_on_a_spread_of_calls(run, tmp_path, monkeypatch):
    calls = _log(run)["calls"]
    checked = set(range(0, len(calls), max(1, len(calls) // 12))) | {len(calls) - 1}
    mismatches: list = []
    _generate(run, tmp_path, _replayer(calls, checked, mismatches), monkeypatch, fake_model=False)
    assert not mismatches, f"{len(mismatches)} of {len(checked)} calls differ, e.g. {mismatches[:2]}"


@pytest.mark.slow
def test_trace_of_a_whole_run_equals_the_original_call_by_call(tmp_path):
    run = "v32-tiny-circle-the-halls"
    wav, reference, checkpoint = _inputs(run, tmp_path)
    trace = tmp_path / "calls.jsonl"
    out = tmp_path / "out"
    out.mkdir()
    # the command as a user runs it, in a process of its own with no MKL setting of ours: `mapper generate` itself
    # asks for the kernels the reference runs match (on an AVX-512 machine the default ones flip a near tie)
    env = {name: value for name, value in os.environ.items() if name != "MKL_CBWR"}
    result = subprocess.run([sys.executable, "-m", "mapperator_cli", "generate", str(wav), "--model", str(checkpoint),
                             "--beatmap", str(reference), "--in-context", "timing", "--seed", "0", "--greedy",
                             "--no-super-timing", "--no-refine", "--trace", str(trace), "--out", str(out), "--quiet"],
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    calls = _log(run)["calls"]
    assert len(records) == len(calls)
    for index, (ours, theirs) in enumerate(zip(records, calls)):
        assert ours["prompt_ids"] == theirs["prompt_ids"], f"call {index}"
        assert ours["generated_ids"] == theirs["generated_ids"], f"call {index}"
    written = next(out.glob("*.osu"))
    assert _objects(written) == _objects(require_shared("fixtures", "e2e", f"{run}-greedy.osu"))


def test_trace_needs_a_file_in_an_existing_folder(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "generate", __file__, "--model", "x", "--trace",
                           str(tmp_path / "no" / "t.jsonl")], capture_output=True, text=True)
    assert proc.returncode != 0 and "--trace needs a file path" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
