"""From generated event streams to files: the beatmap built and labelled as AI-generated, its
positions refined by the diffusion model when asked, then written (or spliced into the
reference) without overwriting anything the user has unless told to."""

from __future__ import annotations

import re
from pathlib import Path

from models.pipeline.request import GenerateRequest, GenerateResult, keep_backup, safe_filename
from tokenization.errors import MapperInputError


def build_output(request, profile, contexts, reference, reference_timing, slider_multiplier, circle_size,
                 song_ms=None, *, stars: float | None = None, version: str | None = None):
    """The beatmap from the generated contexts, labelled as AI-generated, with the warnings its repair
    gave; `stars` is the star rating it was made for (tagged for `mapper eval`), `version` its name."""
    from models.postprocess.build import TARGET_STARS_TAG, BeatmapInfo, build_beatmap
    from tokenization.beatmap import GameMode

    inference = profile.inference
    meta = reference.metadata if reference is not None else None
    d = reference.difficulty if reference is not None else None
    defaults = BeatmapInfo()
    hp, od, ar, tick = ((d.hp_drain_rate, d.overall_difficulty, d.approach_rate, d.slider_tick_rate) if d else
                        (defaults.hp, defaults.overall_difficulty, defaults.approach_rate, defaults.slider_tick_rate))
    if meta is None:  # no reference: the song's own tags (ID3, Vorbis comments) name it
        from models.audio.tags import read_song_tags

        meta = read_song_tags(request.audio)
    info = BeatmapInfo(
        title=request.title or meta.title or request.audio.stem,
        artist=request.artist or meta.artist or "Unknown Artist",
        title_unicode=request.title_unicode or (None if request.title else meta.title_unicode or None),
        artist_unicode=request.artist_unicode or (None if request.artist else meta.artist_unicode or None),
        source=request.source if request.source is not None else (meta.source if reference is not None else ""),
        creator=_ai_creator(request.creator), version=version or request.version or f"{inference.version_name} (AI)",
        audio_filename=request.audio.name, mode=GameMode(request.gamemode),
        circle_size=circle_size, slider_multiplier=slider_multiplier, keycount=request.keycount,
        hp=_first(request.hp, hp), overall_difficulty=_first(request.overall_difficulty, od),
        approach_rate=_first(request.approach_rate, ar), slider_tick_rate=_first(request.slider_tick_rate, tick),
        tags=([f"seed-{request.seed}"] if request.seed is not None else [])
        + ([f"{TARGET_STARS_TAG}{stars:g}"] if stars is not None else []))
    beatmap, report = build_beatmap(contexts, profile.tokenizer, info, reference_timing=reference_timing,
                                    leniency_ms=_first(request.timing_leniency, inference.timing_leniency),
                                    resnap=_first(request.resnap, inference.resnap_events),
                                    types_first=profile.tokenizer.types_first,
                                    snap_overlaps=_first(request.snap_overlaps, inference.snap_near_perfect_overlaps),
                                    song_ms=song_ms, seed=request.seed)
    warnings = []
    if report.dropped_groups or report.stray_events or report.dropped_drumrolls:
        warnings.append(f"repaired the model's output: dropped {report.dropped_groups + report.dropped_drumrolls} "
                        f"incomplete object(s) and {report.stray_events} stray token(s)")
    if not beatmap.hit_objects:
        warnings.append("the model placed no objects (an untrained or unsuitable model?)")
    return beatmap, warnings


def _first(*values):
    return next(v for v in values if v is not None)


def _ai_creator(name: str | None) -> str:
    """The creator field says the map is AI-generated, as the osu! rules ask, whatever name is given."""
    if not name:
        return "mapper (AI)"
    return name if re.search(r"\bAI\b", name) else f"{name} (AI)"


DEFAULT_DIFFUSION_MODEL = "OliBomby/osu-diffusion-v2"


def wants_refinement(request: GenerateRequest, profile, wanted: list[str]) -> bool:
    if request.gamemode not in (0, 2) or "map" not in wanted:
        return False
    return profile.inference.generate_positions if request.refine is None else request.refine


def diffusion_folder(request: GenerateRequest, warnings: list[str]) -> Path | None:
    """The diffusion model to refine with; without one at hand (and none asked for by name) the
    map keeps its token positions and says so."""
    from models.loading import resolve_checkpoint

    given = Path(request.diffusion_model).expanduser() if request.diffusion_model else None
    if given is not None and (given / "model_ema.pkl").is_file() and not (given / "model.safetensors").is_file():
        raise MapperInputError(f"{given}: the published pickled weights; convert them once with "
                               f"`mapper convert {given} --out {given}-safetensors` and pass that folder")
    try:
        # the default only when already downloaded: refinement nobody named must not reach the network
        folder = resolve_checkpoint(request.diffusion_model or DEFAULT_DIFFUSION_MODEL,
                                    download=request.diffusion_model is not None)
        from diffusion.loading import load_inference, load_vocabulary
        from diffusion.model import check_folder

        check_folder(folder)  # every file it holds, before the minutes of decoding, not after
        load_inference(folder)
        load_vocabulary(folder)
        return folder
    except MapperInputError as exc:
        if request.diffusion_model is not None:
            raise
        warnings.append(f"positions not refined: {exc} (give --diffusion-model, or --no-refine)")
        return None


def refine_positions(request: GenerateRequest, folder: Path, beatmap, progress, *, stars: float | None,
                     device: str) -> None:
    """Diffusion refinement of the positions, with the sampling settings the model came with."""
    from diffusion.loading import load_inference, load_vocabulary
    from diffusion.model import load_model as load_diffusion
    from diffusion.refine import MapClass, RefineSettings, refine_beatmap
    from models.postprocess.build import fill_durations

    model = load_diffusion(folder, device)
    defaults = load_inference(folder)
    settings = RefineSettings(steps=defaults.steps, eta=defaults.eta, cfg_scale=defaults.cfg_scale,
                              max_seq_len=defaults.max_seq_len, overlap=defaults.overlap,
                              attention_radius=defaults.attention_radius, start_time=request.start_time,
                              end_time=request.end_time, seed=request.seed)
    map_class = MapClass(stars=stars, descriptors=tuple(request.descriptors),
                         negative_descriptors=tuple(request.negative_descriptors),
                         circle_size=beatmap.difficulty.circle_size)
    report = progress or (lambda *args: None)
    refine_beatmap(model, load_vocabulary(folder), beatmap, settings, map_class,
                   progress=lambda done, total: report("refine", done, total), device=device)
    fill_durations(beatmap)


def write_output(request: GenerateRequest, beatmap, reference, tokens: int, warnings: list[str]) -> GenerateResult:
    """The beatmap as a new file in the output folder (or spliced into the reference), and the .osz if asked."""
    from models.postprocess.build import AI_TAGS
    from tokenization import write_beatmap

    backup = None
    if request.add_to_beatmap:
        from models.postprocess.remap import splice

        merged = splice(reference, beatmap, request.start_time, request.end_time)
        merged.metadata.tags = list(dict.fromkeys(merged.metadata.tags + AI_TAGS))
        if request.overwrite:
            backup = keep_backup(request.reference)
            path = write_beatmap(merged, request.reference, overwrite=True)
        else:
            m = merged.metadata
            m.version = f"{m.version} (AI remap)"
            m.creator = f"{m.creator} + mapper (AI)" if m.creator else "mapper (AI)"
            m.beatmap_id = 0  # a new difficulty, not yet submitted
            stem = safe_filename(f"{m.artist} - {m.title} ({m.creator}) [{m.version}]")
            path = write_beatmap(merged, request.out_dir / f"{stem}.osu", new_name_if_taken=True)
        beatmap = merged
    else:
        request.out_dir.mkdir(parents=True, exist_ok=True)
        m = beatmap.metadata
        stem = safe_filename(f"{m.artist} - {m.title} ({m.creator}) [{m.version}]")
        path = write_beatmap(beatmap, request.out_dir / f"{stem}.osu", new_name_if_taken=True)
    written = [path]
    if request.export_osz:
        from tokenization.osz import write_osz

        try:
            written.append(write_osz({path.name: path, audio_member_name(request.audio): request.audio},
                                     request.out_dir / f"{path.stem}.osz", new_name_if_taken=True))
        except OSError as exc:
            exc.written = written  # the .osu is kept: the command still prints its path before the error
            raise
    return GenerateResult(path, tokens, warnings, written, backup)


def audio_member_name(audio: Path) -> str:
    """The song's name inside a mapset, as the .osu's AudioFilename line writes it (one line)."""
    from tokenization.safe_text import one_line

    return one_line(audio.name)
