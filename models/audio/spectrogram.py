"""Mel spectrogram front ends of the published models, as torch modules the model owns.

Two families, chosen by the checkpoint's `spectrogram_implementation`:
- "nnAudio" (v29): STFT as a strided convolution with stored, Hann-windowed sine/cosine kernels, centre
  padding (zeros), power spectrum, Slaney-scale Slaney-normalised mel bank, no log.
- "torchaudio" (v30+): torchaudio's MelSpectrogram, HTK scale without normalisation, reflect centre
  padding, then log1p.
Both keep the state-dict names of the published checkpoints (`transform.*`), so the stored buffers load
into them and are the ones used; freshly built buffers equal the stored ones bit for bit. Both return
[batch, frames, n_mels], frame k centred on sample k * hop_length, and compute in float32 whatever dtype
the rest of the model runs in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torchaudio
from torch import nn

from tokenization.errors import MapperInputError

NNAUDIO = "nnAudio"
TORCHAUDIO = "torchaudio"


@dataclass(frozen=True)
class SpectrogramSettings:
    sample_rate: int = 16_000  # Hz
    n_fft: int = 1024  # samples per STFT frame (window length too)
    hop_length: int = 128  # samples between frames (8 ms at 16 kHz)
    n_mels: int = 388
    f_min: float = 0.0  # Hz
    f_max: float = 8000.0  # Hz
    pad_mode: str = "constant"  # centre padding: "constant" (zeros) or "reflect"
    implementation: str = NNAUDIO  # or TORCHAUDIO
    log_scale: bool = False  # log1p of the mel power

    @classmethod
    def from_config(cls, config) -> SpectrogramSettings:
        """From a checkpoint's config (or any object with its attribute names); missing or null -> default.

        Older configs (published v29) do not store f_min, f_max, pad_mode or the implementation: the
        defaults are the v29 values.
        """
        defaults = cls()

        def value(name: str, default):
            found = getattr(config, name, None)
            return default if found is None else found

        settings = cls(
            sample_rate=int(value("sample_rate", defaults.sample_rate)),
            n_fft=int(value("n_fft", defaults.n_fft)),
            hop_length=int(value("hop_length", defaults.hop_length)),
            n_mels=int(value("n_mels", defaults.n_mels)),
            f_min=float(value("f_min", defaults.f_min)),
            f_max=float(value("f_max", defaults.f_max)),
            pad_mode=str(value("pad_mode", defaults.pad_mode)),
            implementation=str(value("spectrogram_implementation", defaults.implementation)),
            log_scale=bool(value("spectrogram_log_scale", defaults.log_scale)))
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.implementation not in (NNAUDIO, TORCHAUDIO):
            raise MapperInputError(f"unknown spectrogram_implementation {self.implementation!r} "
                                   f"(expected {NNAUDIO!r} or {TORCHAUDIO!r})")
        if min(self.sample_rate, self.n_fft, self.hop_length, self.n_mels) <= 0:
            raise MapperInputError(f"spectrogram sizes must be positive: {self}")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise MapperInputError(f"spectrogram needs 0 <= f_min < f_max <= sample_rate / 2: {self}")
        if self.pad_mode not in ("constant", "reflect", "replicate", "circular"):
            raise MapperInputError(f"unknown spectrogram pad_mode {self.pad_mode!r}")

    @property
    def frequency_bins(self) -> int:
        return self.n_fft // 2 + 1

    def frame_count(self, samples: int) -> int:
        """Frames for `samples` of audio (centre padding: one frame per hop, plus one)."""
        return samples // self.hop_length + 1


# -- v29 (nnAudio-style) buffers ------------------------------------------------------------------

def _hz_to_slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above (27 mels per ln 6.4)."""
    hz = np.asarray(hz, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step, hz / (200.0 / 3.0))


def _slaney_mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * (200.0 / 3.0))


def slaney_mel_filters(settings: SpectrogramSettings) -> torch.Tensor:
    """[n_mels, bins] triangular filters on the Slaney scale, each scaled to unit area (librosa's `norm=1`).

    Computed in float64 and rounded to float32 twice (triangles, then after the area scaling), as the
    librosa-style code behind the published checkpoints does; that reproduces their `mel_basis` exactly.
    """
    bin_hz = np.linspace(0.0, settings.sample_rate / 2, settings.frequency_bins)
    edges_hz = _slaney_mel_to_hz(np.linspace(_hz_to_slaney_mel(settings.f_min), _hz_to_slaney_mel(settings.f_max),
                                             settings.n_mels + 2))
    widths = np.diff(edges_hz)
    offsets = edges_hz[:, None] - bin_hz[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    triangles = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    area_scale = 2.0 / (edges_hz[2:] - edges_hz[:-2])
    return torch.from_numpy((triangles * area_scale[:, None]).astype(np.float32))


def fourier_kernels(n_fft: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hann-windowed DFT kernels wsin, wcos [bins, 1, n_fft] and the window [1, n_fft, 1], in float32.

    Sines and cosines are computed in float64, rounded, then multiplied by the rounded window in
    float32: the published kernels were made that way, and this reproduces them exactly.
    """
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64).float()
    time = np.arange(n_fft, dtype=np.float64)
    freq = np.arange(n_fft // 2 + 1, dtype=np.float64)[:, None]
    angle = 2 * np.pi * freq * time / n_fft
    wsin = torch.from_numpy(np.sin(angle).astype(np.float32)) * window
    wcos = torch.from_numpy(np.cos(angle).astype(np.float32)) * window
    return wsin[:, None, :], wcos[:, None, :], window[None, :, None]


class ConvSTFT(nn.Module):
    """Power STFT by one strided convolution with the stored kernels (buffers `wsin`, `wcos`, `window_mask`).

    `window_mask` is kept only because checkpoints store it (the kernels already hold the window).
    """

    def __init__(self, settings: SpectrogramSettings):
        super().__init__()
        self.hop_length = settings.hop_length
        wsin, wcos, window = fourier_kernels(settings.n_fft)
        self.register_buffer("wsin", wsin)
        self.register_buffer("wcos", wcos)
        self.register_buffer("window_mask", window)

    def forward(self, padded: torch.Tensor) -> torch.Tensor:  # [batch, samples] -> [batch, bins, frames]
        # cuDNN runs float32 convolutions in TF32 by default (about 1e-3 relative error here); on a GPU
        # a plain float32 matrix product over the frames is as fast and exact to float32 rounding.
        return self.power(padded, by_matmul=padded.is_cuda)

    def power(self, padded: torch.Tensor, *, by_matmul: bool) -> torch.Tensor:
        """|STFT|^2 of already centre-padded audio, by matrix product or (as the original) by convolution."""
        kernels = torch.cat([self.wcos, self.wsin]).float()  # both parts in one product
        if by_matmul:
            frames = padded.unfold(-1, kernels.shape[-1], self.hop_length)  # [batch, frames, n_fft]
            parts = torch.matmul(frames, kernels[:, 0, :].T).transpose(1, 2)
        else:  # on CPU this reproduces the original's spectrograms bit for bit
            parts = nn.functional.conv1d(padded[:, None, :], kernels, stride=self.hop_length)
        real, imag = parts.split(self.wcos.shape[0], dim=1)
        # Magnitude, then squared: the original goes through the magnitude too, and this keeps its rounding.
        return torch.sqrt(real.pow(2) + imag.pow(2)).pow(2)


class ConvMelSpectrogram(nn.Module):
    """nnAudio-style mel spectrogram: buffers `stft.*` and `mel_basis` [n_mels, bins]; no log."""

    def __init__(self, settings: SpectrogramSettings):
        super().__init__()
        self.settings = settings
        self.stft = ConvSTFT(settings)
        self.register_buffer("mel_basis", slaney_mel_filters(settings))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:  # [batch, samples] -> [batch, n_mels, frames]
        half = self.settings.n_fft // 2
        padded = nn.functional.pad(audio, (half, half), mode=self.settings.pad_mode)
        return torch.matmul(self.mel_basis.float(), self.stft(padded))


# -- the module the model owns -------------------------------------------------------------------

class MelSpectrogram(nn.Module):
    """[batch, samples] float audio at `sample_rate` -> [batch, frames, n_mels] float32 features."""

    def __init__(self, settings: SpectrogramSettings):
        super().__init__()
        settings.validate()
        self.settings = settings
        if settings.implementation == NNAUDIO:
            self.transform = ConvMelSpectrogram(settings)
        else:  # torchaudio's own module, so the state dict is `transform.spectrogram.window`, `transform.mel_scale.fb`
            self.transform = torchaudio.transforms.MelSpectrogram(
                sample_rate=settings.sample_rate, n_fft=settings.n_fft, hop_length=settings.hop_length,
                f_min=settings.f_min, f_max=settings.f_max, n_mels=settings.n_mels, pad_mode=settings.pad_mode,
                power=2.0, norm=None, mel_scale="htk", center=True)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 1:
            audio = audio[None]
        audio = audio.float()
        if self.settings.implementation == NNAUDIO:
            mel = self.transform(audio)
        else:
            mel = self._torchaudio_mel(audio)
        if self.settings.log_scale:
            mel = torch.log1p(mel)
        return mel.transpose(1, 2)

    def _torchaudio_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """What torchaudio's MelSpectrogram computes, with its buffers taken in float32."""
        stft = self.transform.spectrogram
        power = torchaudio.functional.spectrogram(
            audio, pad=stft.pad, window=stft.window.float(), n_fft=stft.n_fft, hop_length=stft.hop_length,
            win_length=stft.win_length, power=stft.power, normalized=stft.normalized, center=stft.center,
            pad_mode=stft.pad_mode, onesided=stft.onesided)
        return torch.matmul(power.transpose(-1, -2), self.transform.mel_scale.fb.float()).transpose(-1, -2)

    def frame_count(self, samples: int) -> int:
        return self.settings.frame_count(samples)


def build_spectrogram(config) -> MelSpectrogram:
    """The front end a checkpoint config (n_mels, n_fft, hop_length, ..., spectrogram_implementation) asks for."""
    return MelSpectrogram(SpectrogramSettings.from_config(config))
