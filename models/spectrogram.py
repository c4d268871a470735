"""Mel spectrogram front ends of the published models, as torch modules the model owns.

Two families, chosen by the checkpoint's `spectrogram_implementation`:
- "nnAudio" (v29): STFT as a strided convolution with stored sine/cosine kernels, zero centre
  padding, power spectrum, Slaney-scale Slaney-normalised mel bank, no log.
- "torchaudio" (v30+): torchaudio's MelSpectrogram, HTK scale without normalisation, reflect
  padding, then log1p.
Both keep the state-dict names of the published checkpoints (`transform.*`), so the stored
buffers load into them, and both return [batch, frames, n_mels].
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torchaudio
from torch import nn


@dataclass(frozen=True)
class SpectrogramSettings:
    sample_rate: int = 16_000  # Hz
    n_fft: int = 1024  # samples
    hop_length: int = 128  # samples (8 ms at 16 kHz)
    n_mels: int = 388
    f_min: float = 0.0  # Hz
    f_max: float = 8000.0  # Hz
    pad_mode: str = "constant"
    implementation: str = "nnAudio"  # or "torchaudio"
    log_scale: bool = False

    @classmethod
    def from_config(cls, config) -> SpectrogramSettings:
        """From a checkpoint config (or any object with the same attribute names)."""
        get = lambda name, default: getattr(config, name, default) if getattr(config, name, None) is not None \
            else default  # noqa: E731
        return cls(sample_rate=int(get("sample_rate", 16_000)), n_fft=int(get("n_fft", 1024)),
                   hop_length=int(get("hop_length", 128)), n_mels=int(get("n_mels", 388)),
                   f_min=float(get("f_min", 0.0)), f_max=float(get("f_max", 8000.0)),
                   pad_mode=str(get("pad_mode", "constant")),
                   implementation=str(get("spectrogram_implementation", "nnAudio")),
                   log_scale=bool(get("spectrogram_log_scale", False)))


class _ConvSTFT(nn.Module):
    """Power STFT by convolution with windowed sine/cosine kernels (buffers `wsin`, `wcos`, `window_mask`)."""

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.hop_length = hop_length
        bins = n_fft // 2 + 1
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        time = torch.arange(n_fft, dtype=torch.float64)
        freq = torch.arange(bins, dtype=torch.float64)[:, None]
        angle = 2 * torch.pi * freq * time / n_fft
        self.register_buffer("wsin", (torch.sin(angle) * window).float()[:, None, :])
        self.register_buffer("wcos", (torch.cos(angle) * window).float()[:, None, :])
        self.register_buffer("window_mask", window.float()[None, :, None])

    def forward(self, padded: torch.Tensor) -> torch.Tensor:  # [batch, samples] -> [batch, bins, frames]
        signal = padded[:, None, :]
        real = nn.functional.conv1d(signal, self.wcos, stride=self.hop_length)
        imag = nn.functional.conv1d(signal, self.wsin, stride=self.hop_length)
        return real.pow(2) + imag.pow(2)


class _ConvMel(nn.Module):
    def __init__(self, s: SpectrogramSettings):
        super().__init__()
        self.settings = s
        self.stft = _ConvSTFT(s.n_fft, s.hop_length)
        with warnings.catch_warnings():  # 388 mels leave some low filters empty, as in the original
            warnings.simplefilter("ignore", UserWarning)
            bank = torchaudio.functional.melscale_fbanks(s.n_fft // 2 + 1, s.f_min, s.f_max, s.n_mels,
                                                         s.sample_rate, norm="slaney", mel_scale="slaney")
        self.register_buffer("mel_basis", bank.T.contiguous())  # [n_mels, bins]

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        half = self.settings.n_fft // 2
        padded = nn.functional.pad(audio, (half, half), mode=self.settings.pad_mode)
        power = self.stft(padded)  # [batch, bins, frames]
        return torch.matmul(self.mel_basis, power)  # [batch, n_mels, frames]


class MelSpectrogram(nn.Module):
    """[batch, samples] audio at `sample_rate` -> [batch, frames, n_mels] features."""

    def __init__(self, settings: SpectrogramSettings):
        super().__init__()
        self.settings = settings
        if settings.implementation == "nnAudio":
            self.transform = _ConvMel(settings)
        elif settings.implementation == "torchaudio":
            self.transform = torchaudio.transforms.MelSpectrogram(
                sample_rate=settings.sample_rate, n_fft=settings.n_fft, hop_length=settings.hop_length,
                f_min=settings.f_min, f_max=settings.f_max, n_mels=settings.n_mels, pad_mode=settings.pad_mode,
                power=2.0, norm=None, mel_scale="htk", center=True)
        else:
            raise ValueError(f"unknown spectrogram implementation {settings.implementation!r}")

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio[None]
        mel = self.transform(audio.float())
        if self.settings.log_scale:
            mel = torch.log1p(mel)
        return mel.transpose(1, 2)

    def frame_count(self, samples: int) -> int:
        return samples // self.settings.hop_length + 1


def build_spectrogram(config) -> MelSpectrogram:
    return MelSpectrogram(SpectrogramSettings.from_config(config))
