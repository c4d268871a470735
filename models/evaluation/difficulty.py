"""Difficulty figures: star rating (rosu-pp-py, the ranked calculator), density and what the map is made of."""

from __future__ import annotations

import math

from tokenization.beatmap import Beatmap, GameMode, HitSound, HoldNote, Slider, Spinner


def star_rating(beatmap: Beatmap) -> float | None:
    """Nomod star rating in the map's own mode, from the .osu text the project writes; None if rosu-pp refuses it."""
    import rosu_pp_py as rosu

    from tokenization.osu_writer import format_beatmap

    try:
        stars = float(rosu.Difficulty().calculate(rosu.Beatmap(content=format_beatmap(beatmap))).stars)
    except Exception:  # noqa: BLE001 - rosu-pp raises its own parse/convert errors; an unrated map is reported as such
        return None
    return stars if math.isfinite(stars) else None


def objects_per_minute(beatmap: Beatmap) -> float | None:
    """Objects per minute of the mapped span (first object's start to last object's end)."""
    objects = beatmap.hit_objects
    if len(objects) < 2:
        return None
    span = max(o.end_time for o in objects) - min(o.time for o in objects)
    return len(objects) / (span / 60000.0) if span > 0 else None


def composition(beatmap: Beatmap) -> dict:
    """Shares of each kind of object, in the terms of the map's mode."""
    objects = beatmap.hit_objects
    n = len(objects)
    share = (lambda count: count / n) if n else (lambda count: None)
    sliders = sum(isinstance(o, Slider) for o in objects)
    spinners = sum(isinstance(o, Spinner) for o in objects)
    mode = beatmap.mode
    if mode is GameMode.MANIA:
        keys = beatmap.key_count
        columns = [0] * keys
        for o in objects:
            columns[mania_column(o.x, keys)] += 1
        return {"hold_share": share(sum(isinstance(o, HoldNote) for o in objects)),
                "column_shares": [share(c) for c in columns]}
    if mode is GameMode.TAIKO:
        hits = [o for o in objects if not isinstance(o, (Slider, Spinner))]
        kats = sum(1 for o in hits if o.hitsound & (HitSound.WHISTLE | HitSound.CLAP))
        return {"don_share": share(len(hits) - kats), "kat_share": share(kats),
                "big_share": share(sum(1 for o in hits if o.hitsound & HitSound.FINISH)),
                "drumroll_share": share(sliders), "swell_share": share(spinners)}
    return {"circle_share": share(n - sliders - spinners), "slider_share": share(sliders),
            "spinner_share": share(spinners)}


def mania_column(x: float, keys: int) -> int:
    """The column of a mania note, as osu! computes it from x."""
    return min(keys - 1, max(0, math.floor(x * keys / 512)))
