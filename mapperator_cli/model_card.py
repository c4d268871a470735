"""`mapper info --model`: what a model is (size, profile, vocabulary) and, where it carries one, its model
card (card.json: data, training compute, measured quality beside the beat-only baseline).

Read from the files alone (safetensors headers, JSON), so it needs no torch and runs in a second."""

from __future__ import annotations

# (card key, column): medians of the absolute BPM and offset errors, of the rhythm F1 and of the share of
# objects on the real map's grid; then the share of maps with BPM within 1 % and offset within 10 ms
FIGURES = (("bpm_error_pct", "BPM err %"), ("offset_error_ms", "offset ms"), ("onset_f1_20ms", "F1 20ms"),
           ("on_reference_grid_10ms", "on grid"), ("share_bpm_within_1pct", "BPM≤1%"),
           ("share_offset_within_10ms", "off≤10ms"))


def model_info(given: str | None) -> dict:
    """The model's summary: `given` (folder, hub id, short name), else MAPPER_MODEL, else the starter."""
    import numpy as np
    from safetensors import safe_open

    from models.checkpoint_checks import weight_shapes
    from models.loading import check_config_file, resolve_checkpoint
    from models.model_source import CARD_FILE, chosen_model, starter_model
    from tokenization.small_files import read_json

    name = chosen_model(given)
    folder = resolve_checkpoint(name)
    config = check_config_file(folder)
    shapes = weight_shapes(folder / "model.safetensors")  # a sound file, or one line saying why not
    with safe_open(str(folder / "model.safetensors"), framework="numpy") as weights:
        dtypes = sorted({weights.get_slice(k).get_dtype() for k in weights.keys()})
    backbone = config.get("backbone_config") or {}
    summary = {
        "model": name, "folder": str(folder), "bundled_starter": starter_model() == folder,
        "parameters": int(sum(int(np.prod(s)) for s in shapes.values())),
        "weights_bytes": (folder / "model.safetensors").stat().st_size, "weights_dtype": dtypes,
        "profile": config.get("mapper_profile"),
        "shape": {key: backbone.get(key) for key in ("d_model", "encoder_layers", "decoder_layers",
                                                      "encoder_attention_heads", "encoder_ffn_dim")},
        "window_frames": 2 * backbone.get("max_source_positions", 0) or None,
        "vocab_size": config.get("vocab_size"),
    }
    card = folder / CARD_FILE
    summary["card"] = read_json(card) if card.is_file() else None
    return summary


def print_model_info(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from models.model_source import CARD_FILE

    console = Console()
    head = Table(show_header=False, box=None)
    head.add_row("model", summary["model"] + ("  (the bundled starter)" if summary["bundled_starter"] else ""))
    head.add_row("parameters", f"{summary['parameters'] / 1e6:.2f} M "
                 f"({', '.join(summary['weights_dtype'])}, {summary['weights_bytes'] / 1e6:.1f} MB)")
    head.add_row("profile", str(summary["profile"]))
    head.add_row("shape", ", ".join(f"{k} {v}" for k, v in summary["shape"].items() if v is not None))
    card = summary["card"]
    if card is None:
        head.add_row("model card", f"none (no {CARD_FILE} in the model folder)")
        console.print(head)
        return
    data, training = card["data"], card["training"]
    head.add_row("data", data["summary"])
    head.add_row("data recipe", "; ".join(data["commands"]))
    head.add_row("training", f"{training['steps']} steps, batch {training['batch_size']}, "
                 f"{training['wall_minutes']:.0f} min wall time on {training['hardware']}")
    head.add_row("train command", training["command"])
    if training.get("final_eval"):
        head.add_row("held-out loss", f"{training['final_eval']['loss']:.3f} "
                     f"(token accuracy {training['final_eval']['token_acc']:.3f})")
    console.print(head)
    evaluation = card["evaluation"]
    table = Table(title=f"Measured on {len(evaluation['maps'])} real maps with audio from ../shared/corpus "
                        "(medians per mode; errors absolute)")
    for name in ("mode", "maps", "by"):
        table.add_column(name)
    for _, label in FIGURES:
        table.add_column(label, justify="right")
    for mode, figures in evaluation["model"].items():
        base = evaluation["baseline_beats"].get(mode, {})
        table.add_row(mode, str(figures["maps"]), "model", *(_fmt(figures.get(k)) for k, _ in FIGURES))
        table.add_row("", "", "baseline", *(_fmt(base.get(k)) for k, _ in FIGURES), end_section=True)
    console.print(table)
    if evaluation.get("note"):
        console.print(evaluation["note"])
    console.print(f"model: {evaluation['command_model']}\nbaseline: {evaluation['command_baseline']}")
    if card.get("generation"):
        _print_generation(console, card["generation"])


def _print_generation(console, generation: dict) -> None:
    """The card's per-song table of `mapper generate SONG --difficulty S` (starter_bundle generation)."""
    from rich.table import Table

    rows = (("starter", "starter"), ("onsets", "audio timing + onsets, no model"), ("beats", "beats baseline"))
    table = Table(title=f"mapper generate SONG --difficulty {generation['stars']:g}, against each song's real map "
                        "nearest in stars")
    for name in ("song", "mode", "real stars", "by", "objects", "stars", "BPM error %", "offset ms", "rhythm F1 ±20 ms"):
        table.add_column(name, justify="left" if name in ("song", "mode", "by") else "right")
    for song in generation["songs"]:
        present = [(key, label) for key, label in rows if key in song]
        for number, (key, label) in enumerate(present):
            r = song[key]
            first = number == 0
            table.add_row(song["reference"].split("/")[-2][:32] if first else "", song["mode"] if first else "",
                          _fmt(song["reference_stars"]) if first else "", label, str(r["objects"]), _fmt(r["stars"]),
                          _fmt(r["bpm_error_pct"]), _fmt(r["offset_error_ms"]), _fmt(r["rhythm_f1_20ms"]),
                          end_section=number == len(present) - 1)
    console.print(table)
    for key, label in rows:
        figures = generation["summary"].get(key, {})
        console.print(f"{label}: {figures.get('songs_with_objects')}/{figures.get('songs')} songs with objects, "
                      f"median rhythm F1 {_fmt(figures.get('median_rhythm_f1_20ms'))}"
                      + (f", stars within 1 of the request on {figures['stars_within_1']}"
                         if figures.get("stars_within_1") is not None else ""))
    console.print(f"generation: {generation['command']}")


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"

