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
