"""`mapper info FILE`: what a beatmap, mapset or audio file holds, as a table or JSON; `mapper info --model
[MODEL]`: a model's size and, for the bundled starter, its model card (data, training, measured quality)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mapperator_cli.errors import UserError

AUDIO_SUFFIXES = {".mp3", ".ogg", ".wav", ".flac", ".oga", ".opus"}


def info(
    path: Path | None = typer.Argument(None, help="A .osu beatmap, a .osz mapset or an audio file; with --model, "
                                       "a model folder or hub id (default: MAPPER_MODEL, else the bundled starter).",
                                       show_default=False),
    model: bool = typer.Option(False, "--model", help="Describe a model (its size and model card) instead of a file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Summarise a beatmap (mode, objects, BPM, star rating), a mapset or an audio file; or a model."""
    if model:
        from mapperator_cli.model_card import model_info, print_model_info

        summary = model_info(str(path) if path is not None else None)
        if as_json:
            typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        else:
            print_model_info(summary)
        return
    if path is None:
        raise UserError("give a .osu, .osz or audio file (or --model to describe a model)")
    suffix = path.suffix.lower()
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if suffix == ".osu":
        from tokenization import read_beatmap

        summary = beatmap_summary(read_beatmap(path), path.read_bytes())
    elif suffix in (".osz", ".olz"):
        from tokenization import read_osz

        summary = {"mapset": str(path), "beatmaps": [beatmap_summary(bm, None) | {"file": name}
                                                      for name, bm in read_osz(path)]}
    elif suffix in AUDIO_SUFFIXES:
        summary = audio_summary(path)
    else:
        raise UserError(f"{path}: not a .osu, .osz or audio file")
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_table(summary)


def beatmap_summary(bm, raw: bytes | None) -> dict:
    from tokenization.beatmap import HoldNote, Slider, Spinner

    kinds = {"circle": 0, "slider": 0, "spinner": 0, "hold": 0}
    for obj in bm.hit_objects:
        kind = ("slider" if isinstance(obj, Slider) else "spinner" if isinstance(obj, Spinner)
                else "hold" if isinstance(obj, HoldNote) else "circle")
        kinds[kind] += 1
    red = [tp for tp in bm.timing_points if tp.uninherited and tp.beat_length > 0]
    bpms = sorted({round(60000 / tp.beat_length, 3) for tp in red})
    end = max((obj.end_time for obj in bm.hit_objects), default=0.0)
    summary = {
        "title": bm.metadata.title, "artist": bm.metadata.artist, "creator": bm.metadata.creator,
        "version": bm.metadata.version, "mode": bm.mode.name.lower(), "format_version": bm.format_version,
        "objects": kinds, "bpm": bpms, "timing_points": len(bm.timing_points),
        "length_ms": end, "audio": bm.general.audio_filename,
        "kiai": any(tp.kiai for tp in bm.timing_points),
        "slider_velocity_changes": sum(1 for tp in bm.timing_points if not tp.uninherited),
    }
    if raw is not None:
        summary["star_rating"] = _star_rating(raw)
    return summary


def _star_rating(raw: bytes) -> float | None:
    import rosu_pp_py as rosu

    try:
        return round(rosu.Difficulty().calculate(rosu.Beatmap(bytes=raw)).stars, 4)
    except Exception:  # noqa: BLE001 - rosu cannot rate every file we can read
        return None


def audio_summary(path: Path) -> dict:
    import numpy as np

    from models.audio.loading import SAMPLE_RATE_HZ, audio_duration_ms, load_audio

    samples = load_audio(path, normalize=False)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return {"audio": str(path), "duration_s": round(audio_duration_ms(samples) / 1000, 3),
            "sample_rate_hz": SAMPLE_RATE_HZ, "silent": peak == 0.0}


def _print_table(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = summary.get("beatmaps", [summary])
    for row in rows:
        table = Table(show_header=False, box=None)
        for key, value in row.items():
            table.add_row(key, ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict)
                          else ", ".join(map(str, value)) if isinstance(value, list) else str(value))
        Console().print(table)
