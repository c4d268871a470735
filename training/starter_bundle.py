"""Packing a training run as the bundled starter model (`models/starter/`), and writing its model card.

    python -m training.starter_bundle export RUN_DIR            # fp16 weights + config + vocabulary
    python -m training.starter_bundle card --run RUN_DIR --recipe RECIPE.json \\
        --model-eval MODEL.json --baseline-eval BASELINE.json   # card.json from measured figures

The weights are stored in fp16 (half the size; the loader copies them into the fp32 model, so CPUs
that lack fp16 arithmetic run it as usual). The card's figures are never typed in: they are read from
the JSON that `mapper eval --model ... --json` and `mapper eval --baseline beats ... --json` printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from datetime import datetime
from pathlib import Path

from models.model_source import CARD_FILE, STARTER_DIR

COPIED = ("config.json", "tokenizer.json", "profile.json")
# The figures the card reports per mode, by their key in an `evaluate` comparison.
CARD_FIGURES = {"bpm_error_pct": "median |BPM error| %", "offset_error_ms": "median |offset error| ms",
                "onset_f1_20ms": "median rhythm F1 ±20 ms", "on_reference_grid_10ms": "median share on the real grid (10 ms)"}
ABSOLUTE = ("bpm_error_pct", "offset_error_ms")  # signed errors: the card reports their size


def export(run_dir: Path, out_dir: Path = STARTER_DIR) -> Path:
    """fp16 copy of the run's final weights with the files the loader needs, written into `out_dir`."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(run_dir / "model.safetensors"))
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    temp = out_dir / ".model.safetensors.tmp"
    save_file(half, str(temp), metadata={"format": "pt", "source": "mapper train (starter profile), fp16"})
    temp.chmod(0o644)  # a package file: readable by every user, unlike a fresh temporary file
    temp.replace(out_dir / "model.safetensors")
    for name in COPIED:
        shutil.copyfile(run_dir / name, out_dir / name)
    return out_dir


def mode_figures(evaluation: dict) -> dict:
    """Per mode of the reference maps: songs, and the median of each card figure (absolute for errors)."""
    per_mode: dict[str, dict[str, list[float]]] = {}
    for song in evaluation["songs"]:
        report = song["report"]
        mode = report["reference"]["mode"]
        figures = per_mode.setdefault(mode, {key: [] for key in CARD_FIGURES})
        for key in CARD_FIGURES:
            value = report["comparison"].get(key)
            if value is not None:
                figures[key].append(abs(value) if key in ABSOLUTE else value)
    out = {}
    for mode, figures in sorted(per_mode.items()):
        maps = sum(1 for s in evaluation["songs"] if s["report"]["reference"]["mode"] == mode)
        out[mode] = {"maps": maps} | {key: (round(statistics.median(v), 4) if v else None) for key, v in figures.items()}
        bpm = figures["bpm_error_pct"]
        offset = figures["offset_error_ms"]
        out[mode]["share_bpm_within_1pct"] = round(sum(1 for v in bpm if v <= 1.0) / len(bpm), 4) if bpm else None
        out[mode]["share_offset_within_10ms"] = (round(sum(1 for v in offset if v <= 10.0) / len(offset), 4)
                                                 if offset else None)
    return out


def write_card(run_dir: Path, recipe: dict, model_eval: dict, baseline_eval: dict, out_dir: Path = STARTER_DIR) -> dict:
    """card.json: data, size, training compute (from the run's metrics and the recipe), and the measured
    figures of the model beside the beat-only baseline."""
    from safetensors import safe_open

    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = [m for m in metrics if "split" not in m]
    evals = [m for m in metrics if m.get("split") == "eval"]
    import numpy as np

    with safe_open(str(out_dir / "model.safetensors"), framework="numpy") as weights:
        parameters = sum(int(np.prod(weights.get_slice(k).get_shape())) for k in weights.keys())
    songs = sorted({_corpus_relative(s["reference"]) for s in model_eval["songs"]})
    card = {
        "name": recipe.get("name", "mapper starter"),
        "parameters": parameters,
        "weights": {"file": "model.safetensors", "dtype": "float16",
                    "bytes": (out_dir / "model.safetensors").stat().st_size},
        "data": recipe["data"],
        "training": recipe["training"] | {
            "steps": train[-1]["step"] if train else 0,
            # wall time from the recorded start and end; the loop's own time from the per-step timings
            "wall_minutes": round((datetime.fromisoformat(recipe["training"]["finished"])
                                   - datetime.fromisoformat(recipe["training"]["started"])).total_seconds() / 60, 1),
            "step_minutes": round(sum(m["seconds_per_step"] for m in train) / 60, 1),
            "seconds_per_step_median": round(statistics.median(m["seconds_per_step"] for m in train), 3) if train else None,
            "final_train_loss": train[-1]["loss"] if train else None,
            "final_eval": evals[-1] if evals else None,
        },
        "evaluation": {
            "command_model": recipe["evaluation"]["command_model"],
            "command_baseline": recipe["evaluation"]["command_baseline"],
            "maps": songs,
            "skipped": model_eval.get("skipped", []),
            "model": mode_figures(model_eval),
            "baseline_beats": mode_figures(baseline_eval),
            "note": recipe["evaluation"].get("note", ""),
        },
    }
    temp = out_dir / f".{CARD_FILE}.tmp"
    temp.write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n")
    temp.replace(out_dir / CARD_FILE)
    return card


GENERATION_ROWS = ("starter", "onsets", "beats")  # the model; audio timing + onsets, no model; beats only


def generation_figures(stars: float, evals: dict[str, list[dict]]) -> dict:
    """The card's generation section: `mapper generate SONG --difficulty STARS` measured per song against its
    real map nearest in stars (`mapper eval --difficulty STARS`), one row per song for the starter, the onsets
    baseline and the beats baseline (each from one or more `--json` outputs, merged), and their medians."""
    by_row = {row: {_corpus_relative(song["reference"]): song for data in evals.get(row, []) for song in data["songs"]}
              for row in GENERATION_ROWS}
    songs = sorted(set().union(*(set(found) for found in by_row.values())))
    table, summary = [], {}
    for reference in songs:
        entry = {"reference": reference}
        for row in GENERATION_ROWS:
            song = by_row[row].get(reference)
            if song is None:
                continue
            report = song["report"]
            entry.setdefault("mode", report["reference"]["mode"])
            entry.setdefault("reference_stars", _round(report["reference"].get("stars")))
            entry.setdefault("reference_objects", report["reference"].get("objects"))
            c = report["comparison"]
            entry[row] = {"objects": report["generated"]["objects"], "stars": _round(report["generated"].get("stars")),
                          "bpm_error_pct": _round(c.get("bpm_error_pct")), "offset_error_ms": _round(c.get("offset_error_ms")),
                          "rhythm_f1_20ms": _round(c.get("onset_f1_20ms")), "seconds": song.get("seconds")}
        table.append(entry)
    for row in GENERATION_ROWS:
        rows = [e[row] for e in table if row in e]
        f1 = [r["rhythm_f1_20ms"] for r in rows if r["rhythm_f1_20ms"] is not None]
        star_error = [abs(r["stars"] - stars) for r in rows if r["stars"] is not None]
        summary[row] = {"songs": len(rows), "songs_with_objects": sum(1 for r in rows if r["objects"] > 0),
                        "median_rhythm_f1_20ms": _round(statistics.median(f1)) if f1 else None,
                        "stars_within_1": sum(1 for e in star_error if e <= 1.0) if row != "beats" else None}
    return {"stars": stars, "songs": table, "summary": summary}


def add_generation(card_path: Path, figures: dict, command: str, evals: dict[str, list[dict]] | None = None) -> dict:
    """card.json with its generation section replaced (atomically); with `evals` (the same runs), its evaluation
    section's per-mode medians of the model and the beats baseline too."""
    card = json.loads(card_path.read_text())
    card["generation"] = {"command": command} | figures
    if evals:
        merged = {row: {"songs": [song for data in evals.get(row, []) for song in data["songs"]]} for row in GENERATION_ROWS}
        card["evaluation"] |= {"maps": sorted({_corpus_relative(s["reference"]) for s in merged["starter"]["songs"]}),
                               "model": mode_figures(merged["starter"]), "baseline_beats": mode_figures(merged["beats"])}
    temp = card_path.with_suffix(".tmp")
    temp.write_text(json.dumps(card, indent=1, ensure_ascii=False) + "\n")
    temp.replace(card_path)
    return card


def _round(value, digits: int = 3):
    return None if value is None else round(float(value), digits)


def _corpus_relative(path: str) -> str:
    """A reference map's path inside ../shared/corpus (the eval folders may hold links to it)."""
    parts = Path(path).resolve().parts
    return "/".join(parts[parts.index("corpus") + 1:]) if "corpus" in parts else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.starter_bundle")
    sub = parser.add_subparsers(dest="step", required=True)
    p_export = sub.add_parser("export", help="fp16 weights + config + vocabulary into models/starter/")
    p_export.add_argument("run", type=Path)
    p_card = sub.add_parser("card", help="card.json from a run, its recipe and the eval JSON files")
    p_card.add_argument("--run", type=Path, required=True)
    p_card.add_argument("--recipe", type=Path, required=True)
    p_card.add_argument("--model-eval", type=Path, required=True)
    p_card.add_argument("--baseline-eval", type=Path, required=True)
    p_gen = sub.add_parser("generation", help="the card's per-song generation table from `mapper eval "
                           "--difficulty S --json` outputs of the starter and the onsets and beats baselines")
    p_gen.add_argument("--stars", type=float, required=True)
    for row in GENERATION_ROWS:
        p_gen.add_argument(f"--{row}-eval", type=Path, nargs="+", required=True)
    p_gen.add_argument("--card", type=Path, default=STARTER_DIR / CARD_FILE)
    args = parser.parse_args(argv)
    if args.step == "export":
        print(export(args.run))
    elif args.step == "generation":
        load = lambda path: json.loads(path.read_text())  # noqa: E731
        evals = {row: [load(p) for p in getattr(args, f"{row}_eval")] for row in GENERATION_ROWS}
        figures = generation_figures(args.stars, evals)
        command = (f"mapper eval ../shared/corpus --model models/starter --difficulty {args.stars:g} --seed 0 --json "
                   f"(one song folder a run); --baseline onsets and --baseline beats with the same --difficulty")
        add_generation(args.card, figures, command, evals)
        print(json.dumps(figures["summary"], indent=1))
    else:
        load = lambda path: json.loads(path.read_text())  # noqa: E731
        card = write_card(args.run, load(args.recipe), load(args.model_eval), load(args.baseline_eval))
        print(json.dumps(card["evaluation"]["model"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
