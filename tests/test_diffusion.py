"""Diffusion position refinement: schedule, datapoints, refinement invariants, conversion of the
published pickles, and the CLI around them."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from diffusion.convert import convert
from diffusion.features import ClassVocabulary, beatmap_datapoints, write_back
from diffusion.model import DiffusionConfig, DiT, load_model, save_model
from diffusion.refine import MapClass, RefineSettings, refine_beatmap
from diffusion.schedule import Diffusion, cosine_alphas_cumprod
from tests.conftest import require_shared
from tokenization import read_beatmap
from tokenization.beatmap import Slider
from tokenization.errors import MapperInputError
from tokenization.slider_path import SliderPath
from tokenization.timing import TimingIndex

SLIDER_MAP = ("corpus", "Coosu+Coosu", "Chata & nayuta - Yuune Zekka, Ryouran no Sai (sjoy)",
              "Chata & nayuta - Yuune Zekka, Ryouran no Sai (sjoy) [Replay].osu")


def tiny_model(class_size: int = ClassVocabulary().size, seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    return DiT(DiffusionConfig(hidden_size=32, depth=2, num_heads=2, class_size=class_size)).eval()


def test_schedule_matches_the_published_noise_levels():
    alphas = cosine_alphas_cumprod()
    assert len(alphas) == 1000 and np.all(np.diff(alphas) < 0)
    low = Diffusion.lowest(100)
    assert low.noise_std(99) == pytest.approx(0.167, abs=0.002)  # about 43 px in x
    assert low.noise_std(0) < 0.01
    spaced = Diffusion.create([0, 24, 49, 74, 99])  # respacing keeps the noise levels of the kept steps
    assert spaced.noise_std(4) == pytest.approx(low.noise_std(99))
    assert np.allclose(np.cumprod(1 - spaced.betas), spaced.alphas_cumprod)


def test_datapoints_describe_every_object_and_write_back_unchanged():
    beatmap = read_beatmap(require_shared(*SLIDER_MAP))
    points = beatmap_datapoints(beatmap)
    sliders = [o for o in beatmap.hit_objects if isinstance(o, Slider)]
    assert len(points.sliders) > 100 and len(points) > len(beatmap.hit_objects)
    assert np.all(np.diff(points.time[[r.head for r in points.sliders]]) >= 0)
    before = [(o.x, o.y, [(p.x, p.y) for p in getattr(o, "path", [])]) for o in beatmap.hit_objects]
    write_back(points, points.xy.copy())
    after = [(o.x, o.y, [(p.x, p.y) for p in getattr(o, "path", [])]) for o in beatmap.hit_objects]
    assert before == after and len(sliders) >= len(points.sliders)


def required_length(slider: Slider, timing: TimingIndex, multiplier: float) -> float:
    span = slider.duration / slider.slides
    return timing.slider_velocity_at(slider.time) * span * 100 * multiplier / timing.beat_length_at(slider.time)


def test_refined_positions_stay_in_the_playfield_and_sliders_keep_their_length():
    beatmap = read_beatmap(require_shared(*SLIDER_MAP))
    beatmap.hit_objects = beatmap.hit_objects[:300]
    timing = TimingIndex(beatmap.timing_points)
    model = tiny_model()
    report = refine_beatmap(model, ClassVocabulary(), beatmap, RefineSettings(steps=20, max_seq_len=128, overlap=32,
                                                                              seed=0), MapClass(stars=5.0))
    assert report.datapoints > 300 and report.moved_px > 0
    checked = 0
    for obj in beatmap.hit_objects:
        assert 0 <= obj.x <= 512 and 0 <= obj.y <= 384
        if isinstance(obj, Slider):
            required = required_length(obj, timing, beatmap.difficulty.slider_multiplier)
            assert SliderPath.of(obj).distance == pytest.approx(required, abs=1.0)
            checked += 1
    assert checked > 50


def test_refinement_is_reproducible_and_leaves_fixed_spans_alone():
    path = require_shared(*SLIDER_MAP)
    results = []
    for _ in range(2):
        beatmap = read_beatmap(path)
        beatmap.hit_objects = beatmap.hit_objects[:150]
        original = [(o.x, o.y) for o in beatmap.hit_objects]
        start, end = beatmap.hit_objects[50].time, beatmap.hit_objects[100].time
        refine_beatmap(tiny_model(), ClassVocabulary(), beatmap,
                       RefineSettings(steps=10, seed=3, start_time=start, end_time=end))
        for obj, (x, y) in zip(beatmap.hit_objects, original):
            if obj.time < start or obj.time > end:
                assert (obj.x, obj.y) == (x, y)
        results.append([(o.x, o.y) for o in beatmap.hit_objects])
    assert results[0] == results[1]


def test_convert_reads_the_published_pickles_weights_only(tmp_path):
    vocabulary = ClassVocabulary(mappers=[2, 7], descriptors=["jump aim", "streams"])
    model = tiny_model(vocabulary.size, seed=1)
    source = tmp_path / "osu-diffusion-v2"
    source.mkdir()
    torch.save(model.state_dict(), source / "model_ema.pkl")
    torch.save({"mapper_idx": {2: 0, 7: 1}, "descriptor_idx": {"jump aim": 0, "streams": 1}, "num_classes": 0},
               source / "tokenizer.pkl")
    out = convert(source, tmp_path / "converted", num_heads=2)
    loaded = load_model(out)
    x, t = torch.rand(1, 10, 2) * 2 - 1, torch.tensor([5])
    context, y = torch.rand(1, 10, 272), torch.as_tensor(vocabulary.vector(4.0, 7, ["streams"], 4.0))[None]
    assert torch.equal(loaded(x, t, context, y), model(x, t, context, y))
    assert json.loads((out / "tokenizer.json").read_text())["mappers"] == [2, 7]

    class Payload:  # a pickle that would run code when loaded
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "model_ema.pkl").write_bytes(pickle.dumps({"weights": Payload()}))
    with pytest.raises(MapperInputError, match="refused"):
        convert(evil, tmp_path / "never")
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "never").exists()


def test_convert_cli_and_generate_options(tmp_path):
    model = tiny_model()
    save_model(model, tmp_path / "weights-only")  # a safetensors folder is not a pickle to convert
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "convert", str(tmp_path / "nothing"), "--out",
                           str(tmp_path / "x")], capture_output=True, text=True)
    assert proc.returncode == 2 and "not found" in proc.stderr and proc.stderr.count("\n") == 1
    audio = require_shared("fixtures", "audio", "click120.wav")
    ref = require_shared("fixtures", "ref-v29-tiny")
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "generate", str(audio), "--model", str(ref),
                           "--diffusion-model", str(tmp_path / "weights-only"), "--no-refine"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "contradict" in proc.stderr
    published = tmp_path / "osu-diffusion-v2"  # the pickles as downloaded: told to convert, before any decoding
    published.mkdir()
    torch.save(model.state_dict(), published / "model_ema.pkl")
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "generate", str(audio), "--model", str(ref),
                           "--diffusion-model", str(published), "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 2 and "mapper convert" in proc.stderr and proc.stderr.count("\n") == 1


def test_mapper_train_diffusion_lowers_the_loss_on_the_corpus(tmp_path):
    corpus = require_shared("corpus")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "mapperator_cli", "train", "--profile", "diffusion-tiny", "--data",
                           str(corpus / "ppy+osu"), "--out", str(out), "--max-steps", "60", "--batch-size", "8",
                           "--quiet"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["step"] == 1 and lines[-1]["step"] == 60
    assert lines[-1]["mse"] < lines[0]["mse"] - 0.05  # the mean of the last ten steps against the first step
    model = load_model(out)  # the run folder is a model generate --diffusion-model takes
    assert model.config.hidden_size == 128
    again = subprocess.run([sys.executable, "-m", "mapperator_cli", "train", "--profile", "diffusion-tiny", "--data",
                            str(corpus / "ppy+osu"), "--out", str(out), "--init", "x", "--quiet"],
                           capture_output=True, text=True)
    assert again.returncode == 2 and "--init does not apply" in again.stderr
