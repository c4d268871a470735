"""The mel front ends reproduce the original's spectrograms for every published model family."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from models.spectrogram import build_spectrogram
from tests.conftest import require_shared

VERSIONS = ["v29", "v30", "v31", "v32"]


def _config(version: str):
    return types.SimpleNamespace(**json.loads(require_shared("fixtures", f"ref-{version}-tiny", "config.json").read_text()))


def _relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(ours - reference)) / np.max(np.abs(reference)))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("weights", ["fresh", "checkpoint"])
def test_spectrogram_matches_the_original(version, weights):
    outputs = require_shared("fixtures", f"ref-outputs-{version}")
    module = build_spectrogram(_config(version))
    if weights == "checkpoint":
        state = load_file(str(require_shared("fixtures", f"ref-{version}-tiny", "model.safetensors")))
        buffers = {k.removeprefix("spectrogram."): v for k, v in state.items() if k.startswith("spectrogram.")}
        module.load_state_dict(buffers, strict=True)  # same names: nothing missing, nothing unexpected
    audio = torch.from_numpy(np.load(outputs / "audio_loaded_16k.npy"))
    full = module(audio[None])[0].numpy()
    assert full.shape == np.load(outputs / "spectrogram_full_audio.npy").shape
    assert _relative_error(full, np.load(outputs / "spectrogram_full_audio.npy")) < 1e-4
    samples = json.loads((outputs / "reference_outputs.json").read_text())["D1_audio_spectrogram"]["segment"][
        "samples_per_sequence"]
    window0 = torch.nn.functional.pad(audio[:samples], (0, max(0, samples - len(audio))))  # zero-padded tail
    window = module(window0[None])[0].numpy()
    assert _relative_error(window, np.load(outputs / "spectrogram_window0.npy")) < 1e-4
