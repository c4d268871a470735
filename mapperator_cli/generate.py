"""`mapper generate AUDIO`: a beatmap from a song with a Mapperatorinator-compatible model."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from mapperator_cli.errors import UserError

GAMEMODES = {"osu": 0, "taiko": 1, "catch": 2, "mania": 3}
IN_CONTEXTS = ("timing", "kiai", "gd", "no_hs")
OUTPUT_TYPES = ("timing", "kiai", "map", "sv")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "amp")  # models.loading.PRECISIONS, without importing torch for --help

MODEL, STYLE, SETTINGS, SAMPLING, REFERENCE = "Model", "Map style", "Beatmap settings", "Sampling", "Reference beatmap"
CLEANUP, OUTPUT, METADATA, SPEED = "Timing and cleanup", "Output", "Metadata", "Speed"


def parse_time_ms(text: str | None, option: str) -> float | None:
    """Milliseconds from `83500`, `1:23.5` or the editor's `01:23:500`."""
    if text is None:
        return None
    text = text.strip()
    editor = re.fullmatch(r"(\d+):(\d{2}):(\d{3})", text)
    if editor:
        minutes, seconds, millis = map(int, editor.groups())
        return float(minutes * 60_000 + seconds * 1000 + millis)
    clock = re.fullmatch(r"(\d+):(\d{1,2}(?:\.\d+)?)", text)
    if clock:
        return int(clock.group(1)) * 60_000 + float(clock.group(2)) * 1000
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{option} takes milliseconds, m:ss.s or mm:ss:mmm, not {text!r}") from None
    if value < 0:
        raise UserError(f"{option} must not be negative")
    return value


def generate(
    audio: Path | None = typer.Argument(None, help="The song (mp3, ogg, wav, flac); with --beatmap, the "
                                        "reference's own audio if left out.", show_default=False),
    model: str | None = typer.Option(None, "--model", rich_help_panel=MODEL, show_default=False,
                                     help="Checkpoint folder (config.json, model.safetensors, tokenizer.json), "
                                          "a Hugging Face hub id or v29/v30/v31/v32; default: $MAPPER_MODEL, else the bundled starter model."),
    profile: str | None = typer.Option(None, "--profile", rich_help_panel=MODEL,
                                       help="Profile of the checkpoint (detected if left out)."),
    lora: Path | None = typer.Option(None, "--lora", rich_help_panel=MODEL,
                                     help="LoRA adapter folder (from `mapper lora`), merged at load."),
    refine: bool | None = typer.Option(None, "--refine/--no-refine", rich_help_panel=MODEL, show_default=False,
                                       help="Refine positions with the diffusion model (osu!, catch; default: as "
                                            "the profile says, on for v29)."),
    diffusion_model: str | None = typer.Option(None, "--diffusion-model", rich_help_panel=MODEL,
                                               help="Diffusion model folder (from `mapper convert` or `mapper train "
                                                    "--profile diffusion`); default: the published one, if "
                                                    "downloaded."),
    gamemode: str | None = typer.Option(None, "--gamemode", rich_help_panel=STYLE,
                                        help="osu, taiko, catch or mania (the reference's, else osu)."),
    difficulty: str | None = typer.Option(None, "--difficulty", rich_help_panel=STYLE,
                                          help="Target star rating (unknown if left out); a list such as 2,3.5,5 "
                                               "makes a mapset: one shared timing, a difficulty file each."),
    year: int | None = typer.Option(None, "--year", rich_help_panel=STYLE,
                                    help="Mapping style of this year (2007-2023)."),
    descriptor: list[str] = typer.Option([], "--descriptor", rich_help_panel=STYLE,
                                         help="Style descriptor (repeatable), e.g. 'jump aim'."),
    negative_descriptor: list[str] = typer.Option([], "--negative-descriptor", rich_help_panel=STYLE,
                                                  help="Descriptor to steer away from (repeatable; needs "
                                                       "--cfg-scale above 1)."),
    keycount: int | None = typer.Option(None, "--keycount", rich_help_panel=STYLE,
                                        help="osu!mania key count (the reference's, else 4)."),
    slider_multiplier: float | None = typer.Option(None, "--slider-multiplier", rich_help_panel=STYLE,
                                                   help="Base slider velocity (the reference's, else 1.4)."),
    circle_size: float | None = typer.Option(None, "--circle-size", rich_help_panel=STYLE,
                                             help="Circle size, osu! and catch (the reference's, else 4)."),
    mapper: int | None = typer.Option(None, "--mapper", rich_help_panel=STYLE,
                                      help="osu! user id of a mapper whose style to follow (one the model knows)."),
    beatmap_id: int | None = typer.Option(None, "--beatmap-id", rich_help_panel=STYLE,
                                          help="A training beatmap's id as a style class (older models)."),
    hitsounded: bool | None = typer.Option(None, "--hitsounded/--no-hitsounds", rich_help_panel=STYLE,
                                           show_default=False,
                                           help="Whether the map carries hitsounds (the reference's, else yes)."),
    hold_note_ratio: float | None = typer.Option(None, "--hold-note-ratio", rich_help_panel=STYLE,
                                                 help="osu!mania: share of hold notes, 0-1."),
    scroll_speed_ratio: float | None = typer.Option(None, "--scroll-speed-ratio", rich_help_panel=STYLE,
                                                    help="osu!mania/taiko: scroll-speed changes per note time, 0-1."),
    hp: float | None = typer.Option(None, "--hp", rich_help_panel=SETTINGS,
                                    help="HP drain rate (the reference's, else 5)."),
    od: float | None = typer.Option(None, "--od", rich_help_panel=SETTINGS,
                                    help="Overall difficulty (the reference's, else 8)."),
    ar: float | None = typer.Option(None, "--ar", rich_help_panel=SETTINGS,
                                    help="Approach rate (the reference's, else 9)."),
    slider_tick_rate: float | None = typer.Option(None, "--slider-tick-rate", rich_help_panel=SETTINGS,
                                                  help="Slider ticks per beat (the reference's, else 1)."),
    cfg_scale: float | None = typer.Option(None, "--cfg-scale", rich_help_panel=SAMPLING,
                                           help="Classifier-free guidance strength: 1 is off, higher follows "
                                                "descriptors and mapper more (profile default)."),
    seed: int | None = typer.Option(None, "--seed", rich_help_panel=SAMPLING,
                                    help="Random seed: the same seed gives the same map."),
    greedy: bool = typer.Option(False, "--greedy", rich_help_panel=SAMPLING,
                                help="Always take the likeliest token (no sampling)."),
    temperature: float | None = typer.Option(None, "--temperature", rich_help_panel=SAMPLING,
                                             help="Sampling temperature (profile default)."),
    top_p: float | None = typer.Option(None, "--top-p", rich_help_panel=SAMPLING,
                                       help="Nucleus sampling threshold (profile default)."),
    top_k: int | None = typer.Option(None, "--top-k", rich_help_panel=SAMPLING,
                                     help="Sample from the k likeliest tokens only; 0 is off (profile default)."),
    num_beams: int = typer.Option(1, "--num-beams", rich_help_panel=SAMPLING,
                                  help="Beam search over this many hypotheses per window (deterministic: no "
                                       "sampling; slower by about that factor)."),
    timing_temperature: float | None = typer.Option(None, "--timing-temperature", rich_help_panel=SAMPLING,
                                                    help="Temperature for the time after a beat marker (profile "
                                                         "default)."),
    mania_column_temperature: float | None = typer.Option(None, "--mania-column-temperature",
                                                          rich_help_panel=SAMPLING,
                                                          help="Temperature for mania columns (profile default)."),
    taiko_hit_temperature: float | None = typer.Option(None, "--taiko-hit-temperature", rich_help_panel=SAMPLING,
                                                       help="Temperature for taiko hit types (profile default)."),
    timeshift_bias: float | None = typer.Option(None, "--timeshift-bias", rich_help_panel=SAMPLING,
                                                help="Added to every time token's logit: above 0 places objects "
                                                     "sooner, denser (profile default)."),
    lookback: float | None = typer.Option(None, "--lookback", rich_help_panel=SAMPLING,
                                          help="Share of each window prefilled from the earlier windows (profile "
                                               "default, 0.5)."),
    lookahead: float | None = typer.Option(None, "--lookahead", rich_help_panel=SAMPLING,
                                           help="Share at each window's end left to the next window (profile "
                                                "default, 0.4)."),
    beatmap: Path | None = typer.Option(None, "--beatmap", rich_help_panel=REFERENCE,
                                        help="Reference .osu: fills in audio, metadata, difficulty settings and "
                                             "the output folder; source of --in-context and --add-to-beatmap."),
    in_context: list[str] = typer.Option([], "--in-context", rich_help_panel=REFERENCE,
                                         help="Take from --beatmap (repeatable): timing, kiai, gd (use it as a guest "
                                              "difficulty to match) or no_hs (keep its objects, add hitsounds)."),
    start_time: str | None = typer.Option(None, "--start-time", rich_help_panel=REFERENCE,
                                          help="Generate from here (ms, m:ss.s or mm:ss:mmm)."),
    end_time: str | None = typer.Option(None, "--end-time", rich_help_panel=REFERENCE,
                                        help="Generate up to here (ms, m:ss.s or mm:ss:mmm)."),
    add_to_beatmap: bool = typer.Option(False, "--add-to-beatmap", rich_help_panel=REFERENCE,
                                        help="Splice the generated span into --beatmap, written as a new "
                                             "difficulty file beside it."),
    overwrite: bool = typer.Option(False, "--overwrite", rich_help_panel=REFERENCE,
                                   help="With --add-to-beatmap: replace --beatmap itself (its old contents are "
                                        "kept as .osu.bak)."),
    out: Path | None = typer.Option(None, "--out", rich_help_panel=OUTPUT,
                                    help="Folder for the new beatmap (the reference's folder, else the current "
                                         "one; nothing is overwritten)."),
    output_type: list[str] = typer.Option([], "--output-type", rich_help_panel=OUTPUT,
                                          help="What to write (repeatable): timing, kiai, map, sv (profile "
                                               "default: all it makes)."),
    export_osz: bool = typer.Option(False, "--export-osz", rich_help_panel=OUTPUT,
                                    help="Also write an .osz with the map and the song."),
    trace: Path | None = typer.Option(None, "--trace", rich_help_panel=OUTPUT,
                                      help="Write one JSON line per decoder call to this file (pass, window, "
                                           "prompt ids, generated ids): for debugging and comparing runs."),
    bpm: float | None = typer.Option(None, "--bpm", rich_help_panel=CLEANUP,
                                     help="The song's tempo, if you know it: one red line at --offset instead of "
                                          "generated timing."),
    offset: float | None = typer.Option(None, "--offset", rich_help_panel=CLEANUP,
                                        help="With --bpm: ms of the first beat (default 0)."),
    super_timing: bool | None = typer.Option(None, "--super-timing/--no-super-timing", rich_help_panel=CLEANUP,
                                             show_default=False,
                                             help="Find the timing by voting over passes on shifted audio, as "
                                                  "`mapper timing` does (profile default: on for v29)."),
    timing_passes: int | None = typer.Option(None, "--timing-passes", rich_help_panel=CLEANUP,
                                             help="Passes to vote over with --super-timing (profile default, 20)."),
    timing_leniency: float | None = typer.Option(None, "--timing-leniency", rich_help_panel=CLEANUP,
                                                 help="ms a generated beat may be off when BPMs are fitted to them "
                                                      "(profile default)."),
    resnap: bool | None = typer.Option(None, "--resnap/--no-resnap", rich_help_panel=CLEANUP, show_default=False,
                                       help="Snap objects onto the beat divisors the model gave (profile default: "
                                            "on)."),
    snap_overlaps: bool | None = typer.Option(None, "--snap-overlaps/--no-snap-overlaps", rich_help_panel=CLEANUP,
                                              show_default=False,
                                              help="Merge objects that nearly overlap (< 3.8 px within 1 s; profile "
                                                   "default)."),
    title: str | None = typer.Option(None, "--title", rich_help_panel=METADATA, help="Song title."),
    artist: str | None = typer.Option(None, "--artist", rich_help_panel=METADATA, help="Artist."),
    title_unicode: str | None = typer.Option(None, "--title-unicode", rich_help_panel=METADATA,
                                             help="Title in its own script (default: --title)."),
    artist_unicode: str | None = typer.Option(None, "--artist-unicode", rich_help_panel=METADATA,
                                              help="Artist in its own script (default: --artist)."),
    creator: str | None = typer.Option(None, "--creator", rich_help_panel=METADATA,
                                       help="Creator name; '(AI)' is added unless it says AI."),
    version: str | None = typer.Option(None, "--difficulty-name", rich_help_panel=METADATA,
                                       help="Difficulty name, the .osu Version (default: the model's version name "
                                            "+ ' (AI)')."),
    source: str | None = typer.Option(None, "--source", rich_help_panel=METADATA,
                                      help="Source of the song (a game, an anime...)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", rich_help_panel=OUTPUT, help="No progress on stderr."),
    parallel: bool = typer.Option(False, "--parallel", rich_help_panel=SPEED,
                                  help="Cut the song into side-by-side windows and decode them in batches, all "
                                       "contexts at once: several times faster, less coherent at window edges."),
    batch_size: int | None = typer.Option(None, "--batch-size", rich_help_panel=SPEED,
                                          help="Windows decoded together with --parallel and super timing "
                                               "(profile default; halved by --cfg-scale in --parallel)."),
    device: str = typer.Option("auto", "--device", rich_help_panel=SPEED,
                               help="auto (a CUDA GPU when there is one), cpu or cuda."),
    precision: str = typer.Option("fp32", "--precision", rich_help_panel=SPEED,
                                  help="fp32, or amp: the audio encoder in bf16 autocast (much faster on GPUs and "
                                       "CPUs with bf16 units; tokens may differ slightly from fp32), the decoder "
                                       "in fp32."),
) -> None:
    """Generate a beatmap for AUDIO and print the path of every file written."""
    reference = _read_reference(beatmap)
    if audio is None:
        if reference is None:
            raise UserError("give the song to map (AUDIO), or a --beatmap whose audio to use")
        audio = beatmap.parent / reference.general.audio_filename
    if audio.is_dir():
        raise UserError(f"{audio}: is a folder, not an audio file")
    if not audio.is_file():
        raise UserError(f"{audio}: audio file not found")
    if gamemode is None:
        gamemode = next((k for k, v in GAMEMODES.items() if reference and v == int(reference.mode)), "osu")
    if gamemode not in GAMEMODES:
        raise UserError(f"unknown game mode {gamemode!r} (choose from {', '.join(GAMEMODES)})")
    if keycount is None:
        keycount = int(reference.difficulty.circle_size) if reference and int(reference.mode) == 3 else 4
    contexts = [c.lower() for c in in_context]
    if set(contexts) - set(IN_CONTEXTS):
        raise UserError(f"--in-context takes {', '.join(IN_CONTEXTS)}, not {', '.join(sorted(set(contexts)))}")
    outputs = [o.lower() for o in output_type]
    if set(outputs) - set(OUTPUT_TYPES):
        raise UserError(f"--output-type takes {', '.join(OUTPUT_TYPES)}, not {', '.join(sorted(set(outputs)))}")
    if cfg_scale is not None and cfg_scale < 1:
        raise UserError("--cfg-scale must be at least 1 (1 turns guidance off)")
    if negative_descriptor and (cfg_scale or 0) <= 1:
        raise UserError("--negative-descriptor needs --cfg-scale above 1")
    if contexts and beatmap is None:
        raise UserError("--in-context needs a reference --beatmap")
    if add_to_beatmap and beatmap is None:
        raise UserError("--add-to-beatmap needs the reference --beatmap to add to")
    if overwrite and not add_to_beatmap:
        raise UserError("--overwrite only applies with --add-to-beatmap")
    if lora is not None and not (lora / "adapter_config.json").is_file():
        raise UserError(f"{lora}: not a LoRA adapter folder (no adapter_config.json)")
    if top_p is not None and not 0 < top_p <= 1:
        raise UserError("--top-p must be in (0, 1]")
    if temperature is not None and temperature < 0:
        raise UserError("--temperature must be >= 0")
    if keycount < 1 or keycount > 18:
        raise UserError("--keycount must be between 1 and 18")
    start_ms, end_ms = parse_time_ms(start_time, "--start-time"), parse_time_ms(end_time, "--end-time")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise UserError("--end-time must be after --start-time")
    _check_ranges({"--hold-note-ratio": (hold_note_ratio, 0, 1), "--scroll-speed-ratio": (scroll_speed_ratio, 0, 1),
                   "--hp": (hp, 0, 10), "--od": (od, 0, 10), "--ar": (ar, 0, 10),
                   "--slider-tick-rate": (slider_tick_rate, 0.5, 8), "--lookback": (lookback, 0, 0.9),
                   "--lookahead": (lookahead, 0, 0.9), "--timing-leniency": (timing_leniency, 0, 1000),
                   "--timing-temperature": (timing_temperature, 0, 100),
                   "--mania-column-temperature": (mania_column_temperature, 0, 100),
                   "--taiko-hit-temperature": (taiko_hit_temperature, 0, 100)})
    if timing_passes is not None and timing_passes < 1:
        raise UserError("--timing-passes must be at least 1")
    if batch_size is not None and batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if offset is not None and bpm is None:
        raise UserError("--offset needs --bpm")
    if bpm is not None and not 10 <= bpm <= 1000:
        raise UserError("--bpm must be between 10 and 1000")
    if bpm is not None and "timing" in [c.lower() for c in in_context]:
        raise UserError("--bpm and --in-context timing both give the timing: choose one")
    if not 1 <= num_beams <= 16:
        raise UserError("--num-beams must be between 1 and 16")
    if top_k is not None and top_k < 0:
        raise UserError("--top-k must be >= 0 (0 turns it off)")
    if (lookback or 0) + (lookahead or 0) >= 0.95:
        raise UserError("--lookback plus --lookahead must leave part of each window to generate (below 0.95)")
    if mapper is not None and mapper <= 0:
        raise UserError("--mapper takes an osu! user id (a positive number)")
    if device not in DEVICES:
        raise UserError(f"--device takes {', '.join(DEVICES)}, not {device!r}")
    if precision not in PRECISIONS:
        raise UserError(f"--precision takes {', '.join(PRECISIONS)}, not {precision!r}")
    if diffusion_model is not None and refine is False:
        raise UserError("--diffusion-model and --no-refine contradict each other")
    if out is None:
        out = beatmap.parent if beatmap is not None else Path(".")
    if trace is not None and (trace.is_dir() or not trace.parent.is_dir()):
        raise UserError(f"{trace}: --trace needs a file path in an existing folder")
    difficulties = parse_difficulties(difficulty)
    if len(difficulties) > 1:
        _check_mapset_options(add_to_beatmap=add_to_beatmap, difficulty_name=version, parallel=parallel)
    _check_writable(beatmap.parent if add_to_beatmap and overwrite else out)

    from models.model_source import model_path

    model = model_path(model)  # before the heavy imports: a missing model is reported at once

    from mapperator_cli.progress import PassProgress
    from models.pipeline import GenerateRequest, run_generation

    request = GenerateRequest(
        audio=audio, model=model, profile=profile, out_dir=out, gamemode=GAMEMODES[gamemode],
        difficulty=difficulties[0] if len(difficulties) == 1 else None,
        year=year, descriptors=list(descriptor), keycount=keycount, seed=seed, greedy=greedy,
        temperature=temperature, top_p=top_p, reference=beatmap, in_context=contexts,
        lora=lora, cfg_scale=cfg_scale, negative_descriptors=list(negative_descriptor),
        output_types=outputs, export_osz=export_osz, title=title, artist=artist,
        slider_multiplier=slider_multiplier, circle_size=circle_size, start_time=start_ms, end_time=end_ms,
        add_to_beatmap=add_to_beatmap, overwrite=overwrite, refine=refine, diffusion_model=diffusion_model,
        device=device, precision=precision, mapper_id=mapper, beatmap_id=beatmap_id, hitsounded=hitsounded,
        hold_note_ratio=hold_note_ratio, scroll_speed_ratio=scroll_speed_ratio, top_k=top_k,
        timing_temperature=timing_temperature, mania_column_temperature=mania_column_temperature,
        taiko_hit_temperature=taiko_hit_temperature, timeshift_bias=timeshift_bias, lookback=lookback,
        lookahead=lookahead, timing_leniency=timing_leniency, resnap=resnap, snap_overlaps=snap_overlaps, hp=hp,
        overall_difficulty=od, approach_rate=ar, slider_tick_rate=slider_tick_rate, creator=creator,
        version=version, source=source, title_unicode=title_unicode, artist_unicode=artist_unicode, bpm=bpm,
        offset=offset, parallel=parallel, batch_size=batch_size,
        super_timing=super_timing, timing_passes=timing_passes, num_beams=num_beams, trace=trace)
    if len(difficulties) > 1:
        from models.mapset import run_mapset

        with PassProgress(enabled=not quiet) as progress:
            result = run_mapset(request, difficulties, progress=progress.update)
        for warning in result.warnings:
            typer.echo(f"mapper: warning: {warning}", err=True)
        for path in result.written:
            typer.echo(str(path))
        return
    with PassProgress(enabled=not quiet) as progress:
        result = run_generation(request, progress=progress.update)
    for warning in result.warnings:
        typer.echo(f"mapper: warning: {warning}", err=True)
    if result.backup is not None:
        typer.echo(f"mapper: the reference's old contents are in {result.backup}", err=True)
    for path in result.written:
        typer.echo(str(path))


def parse_difficulties(text: str | None) -> list[float]:
    """Star ratings from `5.5` or `2,3.5,5` (each 0-15, no repeats, in the order given)."""
    if text is None:
        return []
    values = []
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            raise UserError(f"--difficulty takes star ratings such as 5.5 or 2,3.5,5, not {text!r}") from None
        if not 0 <= value <= 15:
            raise UserError("--difficulty star ratings must be between 0 and 15")
        values.append(value)
    if len(set(values)) < len(values):
        raise UserError("--difficulty lists a star rating twice")
    return values


def _check_mapset_options(*, add_to_beatmap: bool, difficulty_name: str | None, parallel: bool) -> None:
    if add_to_beatmap:
        raise UserError("--add-to-beatmap adds one difficulty: give a single --difficulty")
    if difficulty_name is not None:
        raise UserError("--difficulty-name names one difficulty; a mapset's are named by their star ratings")
    if parallel:
        raise UserError("--parallel makes one difficulty at a time: leave it out with a --difficulty list")


def _check_ranges(values: dict[str, tuple[float | None, float, float]]) -> None:
    for option, (value, low, high) in values.items():
        if value is not None and not low <= value <= high:
            raise UserError(f"{option} must be between {low:g} and {high:g}")


def _check_writable(folder: Path) -> None:
    """Refuse an output folder that cannot be written now, not after minutes of generating."""
    import os

    while not folder.exists():  # the nearest folder that is there decides whether it can be made
        if folder.parent == folder:
            break
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"{folder}: is a file, not a folder; cannot write the output there")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{folder}: not writable; choose another --out")


def _read_reference(beatmap: Path | None):
    if beatmap is None:
        return None
    if not beatmap.is_file():
        raise UserError(f"{beatmap}: beatmap not found")
    if beatmap.suffix.lower() != ".osu":
        raise UserError(f"{beatmap}: the reference must be an .osu file")
    from tokenization import read_beatmap

    return read_beatmap(beatmap)
