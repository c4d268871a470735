"""How much later osu! plays a song's sounds than our decoder gives them (ms).

An mp3 starts with silence the format adds: the encoder's delay (LAME's is 576 samples) and the decoder's
(529 samples, DECODER_DELAY_SAMPLES). Encoders from LAME and FFmpeg write both counts in a LAME extension to
the first frame's Xing/"Info" tag, and a gapless decoder (ours: libsndfile's mpg123, like FFmpeg) cuts that
many samples from the start, so a sound the encoder was given at t comes out at t. osu! plays mp3s through
BASS with its old gap handling (osu!framework sets BASS_CONFIG_MP3_OLDGAPS "for backwards compatibility",
after a 2020 BASS update that cut the gap moved the timing of ranked maps): nothing is cut, so in osu! the
same sound plays at t + (delay + 529) samples, about 25 ms at 44.1 kHz, and mappers time it there.
Files without the extension are decoded whole by both, and Vorbis, WAV and FLAC have no such gap: 0 ms.
Measured on the corpus: with mp3 times moved by this, the offset heard in an ogg and in an mp3 needs the
same latency (bench/timing.py).
"""

from __future__ import annotations

import os
from pathlib import Path

DECODER_DELAY_SAMPLES = 529  # the mp3 synthesis filterbank's delay, which gapless decoders cut with the encoder's
_SCAN_BYTES = 64 * 1024  # where the first frame must start (after an ID3v2 tag) for the tag to be read
_MPEG1 = 3
_LAYER_III = 1
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_BITRATES_KBPS = {  # Layer III, by MPEG-1 or MPEG-2/2.5
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_XING_TAGS = (b"Xing", b"Info")
_LAME_EXTENSION_BYTES = 36  # version string (9) to the delay and padding (3 bytes at 21) and past them


def playback_delay_ms(path: str | os.PathLike) -> float:
    """Milliseconds to add to a time heard in our decoding of `path` for the time osu! plays it at."""
    path = Path(path)
    try:
        if not path.is_file():  # a FIFO or a device would block or never end: no gap is read from it
            return 0.0
        with open(path, "rb") as handle:
            head = handle.read(_SCAN_BYTES)
    except OSError:
        return 0.0
    trimmed = mp3_start_trim(head)
    if trimmed is None:
        return 0.0
    samples, sample_rate = trimmed
    return samples * 1000.0 / sample_rate


def mp3_start_trim(head: bytes) -> tuple[int, int] | None:
    """(samples a gapless decoder cuts from the start, the file's sample rate), from the start of an mp3;
    None when `head` is not an mp3 whose first frame holds a Xing/Info tag with a LAME extension."""
    start = _first_frame(head)
    if start is None:
        return None
    header = head[start:start + 4]
    version = (header[1] >> 3) & 3
    sample_rate = _SAMPLE_RATES[version][(header[2] >> 2) & 3]
    mpeg1 = version == _MPEG1
    bitrate = _BITRATES_KBPS[mpeg1][header[2] >> 4]
    frame_bytes = (144 if mpeg1 else 72) * bitrate * 1000 // sample_rate + ((header[2] >> 1) & 1)
    mono = (header[3] >> 6) == 3
    side_info = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    tag = start + 4 + (0 if header[1] & 1 else 2) + side_info  # a CRC (protection bit 0) comes first
    if head[tag:tag + 4] not in _XING_TAGS:
        return None
    flags = int.from_bytes(head[tag + 4:tag + 8], "big")
    extension = tag + 8 + 4 * bool(flags & 1) + 4 * bool(flags & 2) + 100 * bool(flags & 4) + 4 * bool(flags & 8)
    if extension + _LAME_EXTENSION_BYTES > min(start + frame_bytes, len(head)):
        return None
    packed = head[extension + 21:extension + 24]
    encoder_delay = (packed[0] << 4) | (packed[1] >> 4)
    return encoder_delay + DECODER_DELAY_SAMPLES, sample_rate


def _first_frame(head: bytes) -> int | None:
    """Where the first Layer III frame header starts (after an ID3v2 tag), or None."""
    position = 0
    if head[:3] == b"ID3" and len(head) >= 10:
        size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (head[9] & 0x7F)
        position = 10 + size + (10 if head[5] & 0x10 else 0)  # a footer, when the flags say so
    for index in range(position, len(head) - 3):
        if head[index] != 0xFF or (head[index + 1] & 0xE0) != 0xE0:
            continue
        version, layer = (head[index + 1] >> 3) & 3, (head[index + 1] >> 1) & 3
        bitrate_index, rate_index = head[index + 2] >> 4, (head[index + 2] >> 2) & 3
        if version != 1 and layer == _LAYER_III and bitrate_index not in (0, 15) and rate_index != 3:
            return index
    return None
