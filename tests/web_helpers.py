"""A tiny random-weights model and a short click track for the `mapper web` tests (a few seconds a run)."""

from __future__ import annotations

from pathlib import Path

TOKEN = "test-token"


def tiny_model_and_song(root: Path, seconds: float = 6.0) -> tuple[Path, Path]:
    """(model folder, song): the tiny profile with random weights, saved in the published layout, and a
    click track beside a real map of it (`Test - Clicks (tester) [Beats].osu`, a circle on every beat)."""
    import torch

    from models.factory import build_config
    from models.modeling_mapperatorinator import Mapperatorinator
    from profiles import load_profile
    from tests.synthetic import beat_map, click_track
    from tokenization.vocabulary import build_vocabulary
    from training.checkpoint import save_published

    profile = load_profile("tiny")
    vocab = build_vocabulary(profile.tokenizer, [(list(t.inputs), list(t.outputs)) for t in profile.templates])
    torch.manual_seed(1)
    save_published(Mapperatorinator(build_config(profile, vocab)).eval(), vocab, root / "model", profile)
    beat_map(root / REFERENCE, "song.wav", seconds)
    return root / "model", click_track(root / "song.wav", seconds=seconds)


REFERENCE = "Test - Clicks (tester) [Beats].osu"
