"""The mel front ends reproduce the original's spectrograms for every published model family.

Measured on this machine: every fixture spectrogram (full clip and window 0, v29-v32) is reproduced bit for
bit, with freshly built buffers and with the checkpoints' buffers alike, and the fresh buffers equal the
stored ones exactly. The assertions leave room for other CPUs' float rounding (1e-5 relative).
"""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from models.audio.spectrogram import SpectrogramSettings, build_spectrogram
from tests.conftest import require_shared
from tokenization.errors import MapperInputError

VERSIONS = ["v29", "v30", "v31", "v32"]
TOLERANCE = 1e-5  # relative: max|ours - reference| / max|reference|


def _config(version: str):
    return types.SimpleNamespace(**json.loads(require_shared("fixtures", f"ref-{version}-tiny", "config.json").read_text()))


def _stored_buffers(version: str) -> dict[str, torch.Tensor]:
    state = load_file(str(require_shared("fixtures", f"ref-{version}-tiny", "model.safetensors")))
    return {k.removeprefix("spectrogram."): v for k, v in state.items() if k.startswith("spectrogram.")}


def _relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(ours.astype(np.float64) - reference)) / np.max(np.abs(reference)))


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("buffers", ["fresh", "checkpoint"])
def test_spectrogram_matches_the_original(version, buffers):
    outputs = require_shared("fixtures", f"ref-outputs-{version}")
    module = build_spectrogram(_config(version))
    if buffers == "checkpoint":
        module.load_state_dict(_stored_buffers(version), strict=True)  # same names: nothing missing or unexpected
    audio = torch.from_numpy(np.load(outputs / "audio_loaded_16k.npy"))
    segment = json.loads((outputs / "reference_outputs.json").read_text())["D1_audio_spectrogram"]["segment"]
    window0 = torch.nn.functional.pad(audio[:segment["samples_per_sequence"]],
                                      (0, max(0, segment["samples_per_sequence"] - len(audio))))  # zero-padded tail
    with torch.inference_mode():
        checked = 0
        for name, samples in [("spectrogram_full_audio.npy", audio), ("spectrogram_window0.npy", window0)]:
            if not (outputs / name).exists():  # v31 has no full-clip spectrogram
                continue
            reference = np.load(outputs / name)
            ours = module(samples[None])[0].numpy()
            assert ours.shape == reference.shape == (module.frame_count(len(samples)), module.settings.n_mels)
            assert _relative_error(ours, reference) <= TOLERANCE, name
            checked += 1
    assert checked >= 1


@pytest.mark.parametrize("version", VERSIONS)
def test_fresh_buffers_equal_the_stored_ones(version):
    fresh = build_spectrogram(_config(version)).state_dict()
    stored = _stored_buffers(version)
    assert sorted(fresh) == sorted(stored)
    for name, tensor in fresh.items():
        assert tensor.shape == stored[name].shape and tensor.dtype == stored[name].dtype, name
        assert torch.allclose(tensor, stored[name], rtol=0, atol=1e-7), name  # measured: identical


def test_full_size_v29_buffer_names_and_shapes():
    """A published v29 checkpoint's spectrogram buffers (from the full-size parameter list) fit the module."""
    lines = require_shared("fixtures", "v29-full-param-shapes.txt").read_text().splitlines()
    published = {}
    for line in lines:
        if line.startswith("spectrogram."):  # "<key>\t<shape>\t<dtype>\t<param|buffer>"
            name, shape, *_ = line.split("\t")
            published[name.removeprefix("spectrogram.")] = tuple(json.loads(shape))
    ours = {k: tuple(v.shape) for k, v in build_spectrogram(types.SimpleNamespace(n_mels=388)).state_dict().items()}
    assert ours == published


def test_old_configs_without_front_end_fields_get_the_v29_front_end():
    settings = SpectrogramSettings.from_config(types.SimpleNamespace(n_mels=388, f_min=None, pad_mode=None))
    assert (settings.implementation, settings.f_min, settings.f_max, settings.pad_mode, settings.log_scale) == \
           ("nnAudio", 0.0, 8000.0, "constant", False)


@pytest.mark.parametrize("version", ["v29", "v32"])
def test_batches_and_orientation(version):
    module = build_spectrogram(_config(version))
    generator = torch.Generator().manual_seed(0)
    batch = torch.randn(3, 16_000, generator=generator)
    with torch.inference_mode():
        together = module(batch)
        apart = torch.cat([module(row[None]) for row in batch])
        single = module(batch[0])  # a 1-D signal counts as a batch of one
    assert together.shape == (3, 16_000 // 128 + 1, module.settings.n_mels)
    # Batched convolutions may sum in another order: agreement to float32 rounding, relative to the peak.
    assert _relative_error(together.numpy(), apart.numpy()) <= TOLERANCE
    assert torch.equal(single, apart[:1])


def test_frame_k_is_centred_on_sample_k_times_hop():
    module = build_spectrogram(_config("v32"))
    click = torch.zeros(1, 32_000)
    click[0, 128 * 100] = 1.0
    with torch.inference_mode():
        energy = module(click)[0].sum(dim=1)
    assert int(energy.argmax()) == 100


def test_gpu_product_path_agrees_with_the_convolution():
    """On CUDA the v29 STFT runs as a float32 matrix product (cuDNN would use TF32); both must agree."""
    module = build_spectrogram(_config("v29"))
    audio = torch.from_numpy(np.load(require_shared("fixtures", "ref-outputs-v29", "audio_loaded_16k.npy")))
    padded = torch.nn.functional.pad(audio[None], (512, 512))
    with torch.inference_mode():
        by_convolution = module.transform.stft.power(padded, by_matmul=False)
        by_product = module.transform.stft.power(padded, by_matmul=True)
    assert _relative_error(by_product.numpy(), by_convolution.numpy()) <= TOLERANCE


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("version", VERSIONS)
def test_spectrogram_on_cuda_matches_the_original(version):
    outputs = require_shared("fixtures", f"ref-outputs-{version}")
    module = build_spectrogram(_config(version)).cuda()
    audio = torch.from_numpy(np.load(outputs / "audio_loaded_16k.npy")).cuda()
    samples = json.loads((outputs / "reference_outputs.json").read_text())["D1_audio_spectrogram"]["segment"][
        "samples_per_sequence"]
    window0 = torch.nn.functional.pad(audio[:samples], (0, max(0, samples - len(audio))))
    with torch.inference_mode():
        ours = module(window0[None])[0].cpu().numpy()
    assert _relative_error(ours, np.load(outputs / "spectrogram_window0.npy")) <= TOLERANCE


@pytest.mark.parametrize("field,value", [("spectrogram_implementation", "librosa"), ("n_fft", 0),
                                         ("f_max", 9000.0), ("pad_mode", "mirror")])
def test_bad_front_end_settings_are_one_clear_error(field, value):
    with pytest.raises(MapperInputError):
        build_spectrogram(types.SimpleNamespace(n_mels=80, **{field: value}))
