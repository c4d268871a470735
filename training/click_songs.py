"""Small songs made on the spot: a click track and a beatmap with a circle on every beat, and a tiny
model trained on one, so tests and benchmarks need nothing from ../shared (a song folder, a model
in seconds). Not training data for anything shipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np

RATE = 16000


def click_track(path: Path, seconds: float = 12.0, bpm: float = 120.0, offset_ms: float = 500.0) -> Path:
    import soundfile

    t = np.arange(int(seconds * RATE)) / RATE
    audio = 0.02 * np.sin(2 * np.pi * 220 * t)
    beat = 60.0 / bpm
    for k in range(int((seconds - offset_ms / 1000) / beat) + 1):
        start = int((offset_ms / 1000 + k * beat) * RATE)
        n = min(400, len(audio) - start)
        if n > 0:
            audio[start:start + n] += 0.8 * np.exp(-np.arange(n) / 60) * np.sin(2 * np.pi * 1000 * np.arange(n) / RATE)
    soundfile.write(str(path), audio.astype(np.float32), RATE)
    return path


def beat_map(path: Path, audio_name: str, seconds: float = 12.0, bpm: float = 120.0, offset_ms: float = 500.0,
             version: str = "Beats", moved: dict[int, tuple[int, int]] | None = None) -> Path:
    """A circle on every beat walking around a square; `moved` puts object k somewhere else."""
    beat = 60000.0 / bpm
    corners = [(128, 96), (384, 96), (384, 288), (128, 288)]
    lines = []
    k = 0
    while offset_ms + k * beat < seconds * 1000 - 200:
        x, y = (moved or {}).get(k, corners[k % 4])
        lines.append(f"{x},{y},{round(offset_ms + k * beat)},{5 if k % 4 == 0 else 1},0,0:0:0:0:")
        k += 1
    text = f"""osu file format v14

[General]
AudioFilename: {audio_name}
AudioLeadIn: 0
PreviewTime: -1
Mode: 0

[Metadata]
Title:Clicks
Artist:Test
Creator:tester
Version:{version}
BeatmapID:0
BeatmapSetID:-1

[Difficulty]
HPDrainRate:5
CircleSize:4
OverallDifficulty:5
ApproachRate:5
SliderMultiplier:1.4
SliderTickRate:1

[Events]

[TimingPoints]
{offset_ms:g},{beat:g},4,2,0,60,1,0

[HitObjects]
""" + "\n".join(lines) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def song_folder(root: Path, name: str = "clicks", seconds: float = 12.0) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    click_track(folder / "audio.wav", seconds)
    beat_map(folder / "Test - Clicks (tester) [Beats].osu", "audio.wav", seconds)
    return folder


def trained_tiny(root: Path, steps: int) -> tuple[Path, Path]:
    """(song folder, run folder): the tiny profile trained `steps` steps on an 8 s click-track map,
    as `mapper dataset build` and `mapper train --profile tiny --batch-size 4 --learning-rate 0.01
    --eval-every 0 --checkpoint-every 1000` would make it."""
    from profiles import load_profile
    from training.dataset_build import build_dataset
    from training.runs import TrainOptions, train_model

    song = song_folder(root / "songs", seconds=8.0)
    build_dataset([root / "songs"], root / "ds")
    options = TrainOptions(data_dir=root / "ds", out_dir=root / "run", max_steps=steps, batch_size=4,
                           learning_rate=0.01, eval_every=0, checkpoint_every=1000)
    train_model(load_profile("tiny"), options, log=lambda message: None)
    return song, root / "run"
