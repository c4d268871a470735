"""Rebuild tests/data/audio_reference.json: what the original's loader gives, computed with ffmpeg.

The original loads audio with pydub 0.25.1: WAV files (integer PCM) are read by pydub itself; anything
else goes through ffmpeg, decoded to signed little-endian PCM whose width pydub picks from ffprobe's sample
format (16 bits when an mp3/mp4/aac/webm/ogg codec reports `fltp`, else the format's own width: 32 for
float formats such as Vorbis, `s32` for 24-bit FLAC, 8 as unsigned bytes); then `audioop.ratecv` to 16 kHz,
`audioop.tomono(.., 0.5, 0.5)` for stereo (floor-divided sums for more channels), float32, divide by peak.
This script performs those steps with an ffmpeg binary (here: the one in the `imageio-ffmpeg` wheel,
ffmpeg 7.0.2), which the project does not need otherwise. Run from the project root:

    python tests/data/make_audio_reference.py /path/to/ffmpeg
"""

from __future__ import annotations

import audioop
import json
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.test_audio import fingerprint, synthetic_sources, write_synthetic  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
CORPUS_SONGS = ["ppy+osu-resources/welcome/welcome.ogg", "bai-caiye+godot-osu-mania/727723 Kobaryo - Speedcore Psytama/audio.mp3",
                "saliherdemk+osu-dataset-generator/Favorite Liar/audio.mp3"]
SLICE_LENGTH = 256
TARGET_RATE_HZ = 16_000


def read_riff_pcm(path: Path) -> tuple[bytes, int, int, int] | None:
    """(data, width, channels, rate) as pydub's own WAV reader yields them, or None where it gives up."""
    data = path.read_bytes()
    chunks, position = {}, 12
    while position + 8 <= len(data):
        name, size = data[position:position + 4], struct.unpack_from("<I", data, position + 4)[0]
        chunks[name] = data[position + 8:position + 8 + size]
        position += 8 + size + (size & 1)
    fmt = chunks.get(b"fmt ")
    if fmt is None or b"data" not in chunks:
        return None
    tag, channels, rate = struct.unpack_from("<HHI", fmt, 0)
    bits = struct.unpack_from("<H", fmt, 14)[0]
    if tag not in (1, 0xFFFE):
        return None
    raw, width = chunks[b"data"], bits // 8
    if width == 1:
        raw = audioop.bias(raw, 1, -128)
    if width == 3:  # widened to 32 bits, values kept in the 24-bit range
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        values = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        raw = np.where(values >= 1 << 23, values - (1 << 24), values).astype("<i4").tobytes()
        width = 4
    return raw, width, channels, rate


def decode_with_ffmpeg(ffmpeg: str, path: Path) -> tuple[bytes, int, int, int]:
    info = subprocess.run([ffmpeg, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    codec, rate, layout, sample_format = re.search(r"Audio: (\w+)[^,]*, (\d+) Hz, ([\w.]+), (\w+)", info).groups()
    channels = {"mono": 1, "stereo": 2, "quad": 4, "4.0": 4}[layout]
    if sample_format == "fltp" and codec in ("mp3", "mp4", "aac", "webm", "ogg"):
        bits = 16
    elif sample_format.startswith("flt"):
        bits = 32
    else:
        bits = int(re.match(r"[su](\d+)", sample_format).group(1))
    codec_out = "pcm_u8" if bits == 8 else f"pcm_s{bits}le"
    raw = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-acodec", codec_out, "-vn", "-f", codec_out[4:], "-"],
                         capture_output=True, check=True).stdout
    if bits == 8:
        raw = audioop.bias(raw, 1, -128)
    return raw, bits // 8, channels, int(rate)


def original_loader(ffmpeg: str, path: Path, speed: float = 1.0) -> np.ndarray:
    decoded = read_riff_pcm(path) if path.suffix.lower() == ".wav" else None
    raw, width, channels, rate = decoded or decode_with_ffmpeg(ffmpeg, path)
    converted, _ = audioop.ratecv(raw, width, channels, int(rate * speed), TARGET_RATE_HZ, None)
    if channels == 2:
        converted = audioop.tomono(converted, width, 0.5, 0.5)
    elif channels > 2:
        frames = np.frombuffer(converted, dtype=f"<i{width}").reshape(-1, channels).astype(np.int64)
        converted = (frames // channels).sum(axis=1).astype(f"<i{width}").tobytes()
    samples = np.frombuffer(converted, dtype=f"<i{width}").astype(np.float32)
    peak = np.max(np.abs(samples))
    return samples / peak if peak > 0 else samples


def summary(samples: np.ndarray) -> dict:
    return {"length": len(samples), "sha256": fingerprint(samples), "abs_sum": float(np.abs(samples).sum(dtype=np.float64))}


def main(ffmpeg: str) -> None:
    version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    reference = {"made_by": f"tests/data/make_audio_reference.py with {version}", "synthetic": {}, "corpus": {}}
    with tempfile.TemporaryDirectory() as folder:
        for name in synthetic_sources():
            reference["synthetic"][name] = summary(original_loader(ffmpeg, write_synthetic(name, Path(folder))))
        source = "wav_16"
        reference["synthetic_speed_1.5"] = {"source": source, **summary(
            original_loader(ffmpeg, write_synthetic(source, Path(folder)), speed=1.5))}
    for song in CORPUS_SONGS:
        samples = original_loader(ffmpeg, CORPUS / song)
        loud = np.flatnonzero(np.abs(samples) >= 0.999)
        starts = sorted({0, len(samples) // 2, len(samples) - SLICE_LENGTH, max(0, int(loud[0]) - SLICE_LENGTH // 2)})
        reference["corpus"][song] = {
            "length": len(samples), "abs_sum": float(np.abs(samples).sum(dtype=np.float64)),
            "slices": {str(s): [float(v) for v in samples[s:s + SLICE_LENGTH]] for s in starts}}
    out = Path(__file__).with_name("audio_reference.json")
    out.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1])
