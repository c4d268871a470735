"""What the page draws for a finished run: the map's objects over the song's loudness envelope with
its red lines (a timeline), the playfield (osu!, catch) or columns (mania), and with a reference map
the same for it plus `mapper eval`'s figures of the two."""

from __future__ import annotations

from pathlib import Path

import numpy as np

ENVELOPE_FRAME_MS = 20.0  # one loudness value per 20 ms: fine enough to see onsets on a page
MAX_SLIDER_POINTS = 24  # a slider drawn as at most this many points of its real curve
MAX_OBJECTS = 20_000  # a preview, not a file: beyond this the page would crawl


def song_envelope(audio: Path) -> dict:
    """RMS loudness of the song per ENVELOPE_FRAME_MS frame, scaled to 0-1, and its length."""
    from models.audio.loading import SAMPLE_RATE_HZ, load_audio

    samples = load_audio(audio)
    frame = int(SAMPLE_RATE_HZ * ENVELOPE_FRAME_MS / 1000)
    count = max(1, len(samples) // frame)
    frames = samples[: count * frame].reshape(count, frame) if len(samples) >= frame else samples[None]
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    peak = float(rms.max()) if rms.size else 0.0
    values = rms / peak if peak > 0 else rms
    return {"frame_ms": ENVELOPE_FRAME_MS, "values": [round(float(v), 3) for v in values],
            "duration_ms": round(len(samples) * 1000 / SAMPLE_RATE_HZ, 1)}


def beatmap_picture(path: Path) -> dict:
    """Mode, keys, red lines, kiai spans and objects (time, end, kind, x, y, column, slider curve) of a map."""
    from tokenization import read_beatmap
    from tokenization.beatmap import HoldNote, Slider, Spinner
    from tokenization.slider_path import SliderPath

    beatmap = read_beatmap(path)
    mode = int(beatmap.mode)
    keys = max(1, round(beatmap.difficulty.circle_size)) if mode == 3 else None
    objects = []
    for obj in beatmap.hit_objects[:MAX_OBJECTS]:
        item = {"t": round(obj.time, 1), "x": round(obj.x, 1), "y": round(obj.y, 1), "kind": "circle",
                "end": round(obj.time, 1)}
        if isinstance(obj, Slider):
            points = SliderPath.of(obj).points
            step = max(1, len(points) // MAX_SLIDER_POINTS)
            curve = points[::step].tolist() + [points[-1].tolist()]
            item |= {"kind": "slider", "end": round(obj.time + (obj.duration or 0.0), 1),
                     "curve": [[round(x, 1), round(y, 1)] for x, y in curve]}
        elif isinstance(obj, Spinner):
            item |= {"kind": "spinner", "end": round(obj.spinner_end, 1)}
        elif isinstance(obj, HoldNote):
            item |= {"kind": "hold", "end": round(obj.hold_end, 1)}
        if keys is not None:
            item["column"] = min(keys - 1, max(0, int(obj.x * keys / 512)))
        objects.append(item)
    red_lines = [{"t": round(tp.time, 1), "bpm": round(60000 / tp.beat_length, 3) if tp.beat_length > 0 else None}
                 for tp in beatmap.timing_points if tp.uninherited]
    kiai, start = [], None
    for tp in beatmap.timing_points:
        on = bool(tp.effects & 1)
        if on and start is None:
            start = tp.time
        elif not on and start is not None:
            kiai.append([start, tp.time])
            start = None
    if start is not None:
        kiai.append([start, None])
    m = beatmap.metadata
    return {"name": path.name, "mode": ["osu", "taiko", "catch", "mania"][mode], "keys": keys,
            "title": f"{m.artist} - {m.title} [{m.version}]", "red_lines": red_lines, "kiai": kiai,
            "objects": objects, "truncated": len(beatmap.hit_objects) > MAX_OBJECTS}


def run_picture(generated: Path, audio: Path | None, reference: Path | None) -> dict:
    """Everything the page draws for one result; the reference and eval figures where a reference is given."""
    picture = {"map": beatmap_picture(generated), "audio": song_envelope(audio) if audio else None}
    if reference is not None:
        from models.evaluation import evaluate
        from tokenization import read_beatmap

        picture["reference"] = beatmap_picture(reference)
        picture["eval"] = evaluate(read_beatmap(generated), read_beatmap(reference))
    return picture
