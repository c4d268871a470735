"""The training data path: audio cache, worker batches, evaluation size, precision; run folders
that carry their profile."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.test_training import cli
from training.click_songs import song_folder

SONG_SECONDS = 20.0  # three windows of the tiny profile


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from training import build_dataset

    root = tmp_path_factory.mktemp("pipeline")
    song_folder(root / "songs", "a", seconds=SONG_SECONDS)
    song_folder(root / "songs", "b", seconds=SONG_SECONDS / 2)
    build_dataset([root / "songs"], root / "data")
    return root / "data"


@pytest.fixture(scope="module")
def maker(dataset):
    from profiles import load_profile
    from training.audio_cache import CACHE_DIR_NAME, AudioCache
    from training.examples import ExampleMaker, read_records
    from training.runs import new_vocabulary

    profile = load_profile("tiny")
    records = read_records(dataset)
    vocab = new_vocabulary(profile, records)
    audio = AudioCache(dataset / CACHE_DIR_NAME, profile.audio.sample_rate)
    return ExampleMaker(profile, vocab, audio=audio), ExampleMaker(profile, vocab, train=False, audio=audio), records


def test_audio_cache_decodes_each_song_once(tmp_path, monkeypatch):
    import models.audio.loading
    from models.audio.loading import load_audio
    from training.audio_cache import AudioCache

    song = song_folder(tmp_path, seconds=3.0) / "audio.wav"
    cache = AudioCache(tmp_path / "cache", 16000)
    first = cache.samples(song)
    np.testing.assert_array_equal(first, load_audio(song))
    assert len(list((tmp_path / "cache" / "16000").glob("*.npy"))) == 1
    assert not list((tmp_path / "cache").rglob("*.partial"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(models.audio.loading, "load_audio", no_decoding)
    again = cache.samples(song)
    assert isinstance(again, np.memmap)  # read from disk, shared by the page cache
    np.testing.assert_array_equal(again, first)
    faster = cache.samples(song, speed=1.5)  # DT augmentation from the cached samples
    monkeypatch.undo()
    reference = load_audio(song, speed=1.5)  # what decoding the file at that speed gives
    assert abs(len(faster) - len(reference)) <= 1
    n = min(len(faster), len(reference))
    assert np.max(np.abs(faster[:n] - reference[:n])) < 0.02 and np.max(np.abs(faster)) == pytest.approx(1.0)


def test_an_edited_song_is_decoded_again(tmp_path):
    import soundfile

    from training.audio_cache import AudioCache

    song = song_folder(tmp_path, seconds=2.0) / "audio.wav"
    cache = AudioCache(tmp_path / "cache", 16000)
    before = np.array(cache.samples(song))
    soundfile.write(str(song), np.zeros(16000, dtype=np.float32) + 0.5, 16000)
    after = cache.samples(song)
    assert len(after) == 16000 and len(before) == 32000


def _take(batches, n):
    out = [next(batches) for _ in range(n)]
    batches.close()
    return out


def test_worker_batches_depend_only_on_seed_and_step(maker):
    from training.loader import train_batches

    train, _, records = maker
    first = _take(train_batches(train, records, 3, seed=0, step=5, workers=2), 4)
    again = _take(train_batches(train, records, 3, seed=0, step=5, workers=2), 4)
    later = _take(train_batches(train, records, 3, seed=0, step=6, workers=2), 4)
    for a, b in zip(first, again):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a["frames"], b["frames"]) for a, b in zip(first, later))
    assert first[0]["frames"].shape == (3, train.samples)


def test_evaluation_reads_every_eval_window_once(maker):
    import random

    from training.loader import eval_batches

    _, evaluate, records = maker
    windows = sum(len(list(evaluate.examples(r, random.Random(0), [r]))) for r in records)
    assert windows >= 4  # 20 s + 10 s of 8.2 s windows
    for workers in (0, 2):
        sizes = [len(b["frames"]) for b in eval_batches(evaluate, records, 2, max_batches=100, workers=workers)]
        assert sum(sizes) == windows and max(sizes) == 2
    assert len(list(eval_batches(evaluate, records, 2, max_batches=1))) == 1  # the profile's eval_steps caps it


def test_bf16_is_the_default_on_cuda_only(monkeypatch):
    from training.runs import default_precision

    assert default_precision("fp16", cpu=False) == "fp16"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert default_precision(None, cpu=False) == "bf16"
    assert default_precision(None, cpu=True) == "no"
    assert default_precision("no", cpu=False) == "no"  # --precision wins


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_batches_arrive_pinned_on_cuda(maker):
    from training.loader import train_batches

    train, _, records = maker
    batch = _take(train_batches(train, records, 2, seed=0, step=0, workers=2, pin_memory=True), 1)[0]
    assert all(t.is_pinned() for t in batch.values())


def test_workers_option_is_checked(dataset, tmp_path):
    result = cli("train", "--profile", "tiny", "--data", str(dataset), "--out", str(tmp_path / "r"), "--workers", "-1")
    assert result.exit_code == 2 and "--workers" in result.output


CUSTOM = """
name: custom
description: a profile that exists only in this file
tokenizer: {types_first: true, add_snapping: true, add_timing_points: true, add_hitsounds: true, add_distances: true,
            add_positions: true, position_precision: 32, position_split_axes: false, add_sv: true, slider_version: 1}
audio: {sample_rate: 16000, n_fft: 1024, hop_length: 128, n_mels: 80, f_min: 0, f_max: 8000,
        pad_mode: constant, implementation: torchaudio, log_scale: true}
model: {family: whisper, d_model: 48, encoder_layers: 1, decoder_layers: 1, attention_heads: 4, ffn_dim: 96,
        src_seq_len: 1024, tgt_seq_len: 512, project_encoder_input: true}
templates:
  - {inputs: [none], outputs: [timing, kiai, map, sv]}
inference: {version_name: custom, in_context: [none], output_type: [timing, kiai, map, sv], temperature: 0.9,
            top_p: 0.9, generate_positions: false}
training: {optimizer: adamw, learning_rate: 0.01, batch_size: 2, max_steps: 2, eval_every: 0, eval_steps: 2,
           checkpoint_every: 1}
"""


def test_a_model_from_a_custom_profile_file_generates(dataset, tmp_path):
    from profiles.detect import detect_profile

    profile = tmp_path / "my.yaml"
    profile.write_text(CUSTOM)
    run = tmp_path / "run"
    result = cli("train", "--profile", str(profile), "--data", str(dataset), "--out", str(run), "--workers", "1",
                 "--quiet")
    assert result.exit_code == 0, result.output
    for folder in (run, run / "checkpoint-1", run / "checkpoint-2"):  # every checkpoint is a complete model
        assert detect_profile(folder).model.d_model == 48
    song = song_folder(tmp_path / "song", seconds=8.0)
    for model in (run, run / "checkpoint-1"):
        out = tmp_path / f"out-{model.name}"
        result = cli("generate", str(song / "audio.wav"), "--model", str(model), "--seed", "0", "--out", str(out),
                     "--quiet")
        assert result.exit_code == 0, result.output
        assert len(list(out.glob("*.osu"))) == 1
    result = cli("timing", str(song / "audio.wav"), "--model", str(run), "--passes", "1", "--out", str(tmp_path / "t"),
                 "--json", "--quiet")
    assert result.exit_code == 0, result.output
    # A run folder from before profiles were saved names a profile nobody ships: one clear line, exit 2.
    (run / "profile.json").unlink()
    result = cli("generate", str(song / "audio.wav"), "--model", str(run), "--out", str(tmp_path / "x"), "--quiet")
    assert result.exit_code == 2 and "'custom'" in result.output and "--profile" in result.output
    assert json.loads((run / "config.json").read_text())["mapper_profile"] == "custom"


def test_a_dataset_of_unreadable_songs_stops_with_one_line(tmp_path):
    from training import build_dataset

    song_folder(tmp_path / "songs", seconds=4.0)
    build_dataset([tmp_path / "songs"], tmp_path / "data")
    for audio in (tmp_path / "data" / "data").rglob("*.wav"):
        audio.write_bytes(b"not audio at all")
    result = cli("train", "--profile", "tiny", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"),
                 "--workers", "1", "--max-steps", "1", "--quiet")
    assert result.exit_code == 2
    assert "no training song could be read" in result.output and "Traceback" not in result.output
