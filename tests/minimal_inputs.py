"""The minimal inputs of the reliability issue (#19): tiny files that once hung, blew up or raised
stray exceptions. Built on the spot (the largest is 16 MB), shared by tests and `bench/fuzz.py`."""

from __future__ import annotations

HEAD = "osu file format v14\n\n[General]\nAudioFilename: audio.mp3\nMode: 0\n\n[Difficulty]\nSliderMultiplier:1.4\n\n"
TIMING = "[TimingPoints]\n0,500,4,1,0,100,1,0\n\n"


def beatmap(objects: str, *, timing: str = TIMING, head: str = HEAD) -> bytes:
    return (head + timing + "[HitObjects]\n" + objects).encode()


def _points_file(size: int) -> bytes:
    line = b"256,192,1000,1,0,0:0:0:0:\n"
    return beatmap("") + line * (size // len(line))


def osu_inputs() -> dict[str, bytes]:
    """name -> .osu bytes; each must read (maybe with warnings) or fail with one clear error, fast."""
    # A NUL after the first 4 KB (padding the writer drops), in a storyboard line the writer keeps.
    nul_late = beatmap("256,192,1000,1,0,0:0:0:0:\n" + "// padding\n" * 500) + b"[Events]\nSprite\x00\n"
    return {
        "ticks_to_int_max": beatmap("256,192,2147483647,1,0,0:0:0:0:\n", timing="[TimingPoints]\n0,20,4,1,0,100,1,0\n\n"),
        "slider_1e9_ms": beatmap("0,0,1000,2,0,L|100:0,1,1000000000\n",
                                 timing="[TimingPoints]\n0,60000,4,1,0,100,1,0\n0,-1000,4,1,0,100,0,0\n\n"),
        # v32 makes a sustain token every 8 s: 125,000 of them for this one slider
        "slider_1e9_ms_within_range": beatmap("0,0,1000,2,0,L|100:0,1,2333333\n",
                                              timing="[TimingPoints]\n0,60000,4,1,0,100,1,0\n\n"),
        "slides_100000": beatmap("0,0,1000,2,0,L|100:0,100000,100\n"),
        "control_points_750k": beatmap("0,0,1000,2,0,B|" + "|".join(["1:1"] * 750_000) + ",1,100\n"),
        "points_16mb": _points_file(16 * 1024 * 1024),
        "slider_multiplier_1e-300": beatmap("0,0,1000,2,0,L|100:0,1,100\n").replace(
            b"SliderMultiplier:1.4", b"SliderMultiplier:1e-300"),
        "beat_length_1e-300": beatmap("256,192,1000,1,0,0:0:0:0:\n", timing="[TimingPoints]\n0,5e-324,4,1,0,100,1,0\n\n"),
        "version_superscript": beatmap("256,192,1000,1,0,0:0:0:0:\n").replace(b"v14", "v\u00b2".encode()),
        "nul_after_4kb": nul_late,
        "object_at_-5162220307": beatmap("256,192,1000,1,0,0:0:0:0:\n256,192,-5162220307,1,0,0:0:0:0:\n"
                                         "256,192,2000,1,0,0:0:0:0:\n"),
    }


def _zip(members: dict[str, bytes], compression: int = 8) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _patch(data: bytes, local_offset: int, central_offset: int, value: bytes) -> bytes:
    """Overwrite a field of the first member in its local header and its central-directory entry."""
    out = bytearray(data)
    local, central = out.find(b"PK\x03\x04"), out.find(b"PK\x01\x02")
    out[local + local_offset:local + local_offset + len(value)] = value
    out[central + central_offset:central + central_offset + len(value)] = value
    return bytes(out)


def _corrupt_payload(data: bytes) -> bytes:
    out = bytearray(data)
    start = out.find(b"PK\x03\x04") + 30 + len("map.osu") + 4
    out[start:start + 40] = bytes((b ^ 0x5A) for b in out[start:start + 40])
    return bytes(out)


def stealth_bomb(members: int = 1900) -> bytes:
    """Members just under 1 MiB of zeros each: every one passes a per-member ratio check."""
    return _zip({f"sb/{i}.png": bytes(1024 * 1024 - 1) for i in range(members)})


def osz_inputs(*, bomb_members: int = 100) -> dict[str, bytes]:
    """name -> .osz bytes of corrupt archives; each must give one clear error, never a library's."""
    import struct
    import zipfile

    osu = beatmap("256,192,1000,1,0,0:0:0:0:\n" * 400)
    good = _zip({"map.osu": osu})
    stored = _zip({"map.osu": osu}, compression=zipfile.ZIP_STORED)
    utf8_name = _patch(_zip({"map\u00e9.osu": osu}), 6, 8, struct.pack("<H", 0x800))
    return {
        "not_a_zip": b"PK\x03\x04 broken",
        "truncated": good[: len(good) // 2],
        "encrypted": _patch(good, 6, 8, struct.pack("<H", 1)),
        "unknown_method": _patch(good, 8, 10, struct.pack("<H", 99)),
        "corrupt_deflate": _corrupt_payload(good),
        "corrupt_lzma": _corrupt_payload(_zip({"map.osu": osu}, compression=zipfile.ZIP_LZMA)),
        "corrupt_bzip2": _corrupt_payload(_zip({"map.osu": osu}, compression=zipfile.ZIP_BZIP2)),
        "bad_crc": _patch(good, 14, 16, b"\0\0\0\0"),
        "sizes_beyond_the_file": _patch(stored, 18, 20, struct.pack("<II", 10_000_000, 10_000_000)),
        "bad_utf8_name": utf8_name.replace("map\u00e9".encode(), b"map\xff\xfe"),
        "stealth_bomb": stealth_bomb(bomb_members),
    }
