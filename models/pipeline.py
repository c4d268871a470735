"""The whole of `mapper generate`: audio and options in, a new .osu file out."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from tokenization.errors import MapperInputError


@dataclass
class GenerateRequest:
    audio: Path
    model: str
    profile: str | None = None
    out_dir: Path = Path(".")
    gamemode: int = 0
    difficulty: float | None = None
    year: int | None = None
    descriptors: list[str] = field(default_factory=list)
    keycount: int = 4
    seed: int | None = None
    greedy: bool = False
    temperature: float | None = None
    top_p: float | None = None
    reference: Path | None = None
    in_context: list[str] = field(default_factory=list)  # from the reference: timing, kiai, gd, no_hs
    title: str | None = None
    artist: str | None = None
    slider_multiplier: float | None = None  # None: the reference's, else 1.4
    circle_size: float | None = None  # None: the reference's, else 4
    device: str = "cpu"  # cpu, cuda, or auto (cuda when available)
    precision: str = "fp32"  # amp: bf16 autocast for the encoder side; int8: int8 decoder (CPU)
    lora: Path | None = None
    cfg_scale: float | None = None  # None: the profile's
    negative_descriptors: list[str] = field(default_factory=list)
    output_types: list[str] = field(default_factory=list)  # passes to run; empty: the profile's
    export_osz: bool = False
    start_time: float | None = None  # ms; generate only this span
    end_time: float | None = None
    add_to_beatmap: bool = False  # splice the span into the reference, as a new file
    overwrite: bool = False  # with add_to_beatmap: replace the reference itself (a backup is kept)
    refine: bool | None = None  # diffusion refinement of positions; None: as the profile says
    diffusion_model: str | None = None  # folder or hub id; None: the published one
    super_timing: bool | None = None  # timing by voting over shifted passes; None: the profile's
    timing_passes: int | None = None  # passes to vote over; None: the profile's timer_iterations
    parallel: bool = False  # side-by-side windows decoded in batches (models.parallel_generation)
    batch_size: int | None = None  # windows per batch in parallel mode and super timing; None: the profile's
    bpm: float | None = None  # a known tempo: one red line instead of the timing pass
    offset: float | None = None  # ms of that red line's first beat
    # style classes (None: unknown, as the model was trained to accept)
    mapper_id: int | None = None  # osu! user id of the mapper whose style to follow
    beatmap_id: int | None = None  # a training beatmap's id, as a style class
    hitsounded: bool | None = None  # None: the reference's, else True
    hold_note_ratio: float | None = None  # mania: share of hold notes, 0..1
    scroll_speed_ratio: float | None = None  # mania/taiko: share of scroll-speed changes, 0..1
    # sampling and windows (None: the profile's)
    top_k: int | None = None
    num_beams: int = 1  # above 1: beam search, no sampling
    timing_temperature: float | None = None
    mania_column_temperature: float | None = None
    taiko_hit_temperature: float | None = None
    timeshift_bias: float | None = None
    lookback: float | None = None
    lookahead: float | None = None
    # postprocessing (None: the profile's)
    timing_leniency: float | None = None
    resnap: bool | None = None
    snap_overlaps: bool | None = None
    # beatmap settings and metadata written to the file (None: the reference's or the defaults)
    hp: float | None = None
    overall_difficulty: float | None = None
    approach_rate: float | None = None
    slider_tick_rate: float | None = None
    creator: str | None = None
    version: str | None = None
    source: str | None = None
    title_unicode: str | None = None
    artist_unicode: str | None = None
    trace: Path | None = None  # a JSON-lines file with one record per decoder call (models.trace)


@dataclass
class GenerateResult:
    path: Path
    tokens: int
    warnings: list[str]
    written: list[Path] = field(default_factory=list)  # every file, the .osu first
    backup: Path | None = None  # the reference's old contents, when it was overwritten


def safe_filename(text: str) -> str:
    cleaned = re.sub(r'[<>:"/\\|?*\x00-\x1f]', "_", text).strip(" .")
    return cleaned[:150] or "beatmap"


def fresh_path(folder: Path, stem: str, suffix: str = ".osu") -> Path:
    path = folder / f"{stem}{suffix}"
    counter = 2
    while path.exists():
        path = folder / f"{stem} ({counter}){suffix}"
        counter += 1
    return path


def run_generation(request: GenerateRequest, progress: Callable[[str, int, int], None] | None = None) -> GenerateResult:

    from models.audio import audio_duration_ms, load_audio
    from models.generation import Generator
    from models.given_contexts import given_contexts, reference_style
    from models.trace import Trace
    from tokenization import read_beatmap
    from tokenization.events import ContextType
    from tokenization.prompt import Conditioning, unknown_descriptors

    reference = read_beatmap(request.reference) if request.reference else None
    _check_span(request, reference)
    audio = load_audio(request.audio)
    folder, vocab, profile = _checkpoint(request)
    warnings = [f"unknown descriptor {d!r} ignored" for d in unknown_descriptors(vocab, request.descriptors)]
    if request.mapper_id is not None and request.mapper_id not in vocab.mapper_idx:
        warnings.append(f"the model does not know mapper {request.mapper_id}: no mapper style used")
    if request.beatmap_id is not None and request.beatmap_id not in vocab.beatmap_idx:
        warnings.append(f"the model does not know beatmap {request.beatmap_id}: no beatmap style used")
    request = replace(request, device=_device(request.device, warnings, request.precision))
    song_ms = audio_duration_ms(audio)
    sources = given_contexts(request, reference, profile, vocab, song_ms)
    passes, wanted = _plan_passes(request, profile, vocab, sources.finished)
    # found before generating, so a bad --diffusion-model fails in a second, not after minutes of decoding
    diffusion_folder = _diffusion_folder(request, warnings) if _wants_refinement(request, profile, wanted) else None

    model = _load_model(folder, request)
    style = reference_style(request.reference, reference) if reference is not None else {}
    asked = {"difficulty": request.difficulty, "hitsounded": request.hitsounded,
             "hold_note_ratio": request.hold_note_ratio, "scroll_speed_ratio": request.scroll_speed_ratio}
    asked = {key: value if value is not None else style.get(key) for key, value in asked.items()}
    request = replace(request, difficulty=asked["difficulty"])  # the refinement's class uses it too
    difficulty = reference.difficulty if reference is not None else None
    slider_multiplier = request.slider_multiplier or (difficulty.slider_multiplier if difficulty else 1.4)
    circle_size = request.circle_size or (difficulty.circle_size if difficulty and request.gamemode != 3 else 4.0)
    conditioning = Conditioning(
        gamemode=request.gamemode, difficulty=asked["difficulty"], year=request.year, song_length_ms=song_ms,
        slider_multiplier=slider_multiplier, circle_size=circle_size, keycount=request.keycount,
        descriptors=request.descriptors, negative_descriptors=request.negative_descriptors,
        mapper_id=request.mapper_id, beatmap_id=request.beatmap_id,
        hitsounded=True if asked["hitsounded"] is None else asked["hitsounded"],
        hold_note_ratio=asked["hold_note_ratio"], scroll_speed_ratio=asked["scroll_speed_ratio"])
    generator = Generator(model, vocab, profile, _settings(request, profile), request.device)
    trace = Trace(request.trace) if request.trace is not None else None
    generator.trace = trace
    try:
        contexts = _decode_passes(request, generator, model, vocab, profile, audio, conditioning, sources, passes,
                                  progress)
    finally:
        if trace is not None:
            trace.write()  # also after a failure: the calls up to it are what a debugger wants
    contexts = {c: events for c, events in contexts.items()
                if c.value in wanted or c is ContextType.TIMING or c in sources.finished}
    beatmap, report_warnings = _postprocess(request, profile, contexts, reference, sources.reference_timing,
                                            slider_multiplier, circle_size)
    warnings += report_warnings
    if beatmap.hit_objects and diffusion_folder is not None:
        _refine(request, diffusion_folder, beatmap, progress)
    return _write(request, beatmap, reference, generator.generated_tokens, warnings)


def _decode_passes(request, generator, model, vocab, profile, audio, conditioning, sources, passes, progress):
    """Every pass the request needs: super timing first when asked, then the rest in order."""
    import torch

    from models.given_contexts import super_timing
    from tokenization.events import ContextType

    if ContextType.TIMING in passes:
        with torch.inference_mode():
            super_timing(request, model, vocab, profile, audio, conditioning, sources, progress,
                         trace=generator.trace)
        passes = [p for p in passes if p not in sources.finished]
    with torch.inference_mode():
        if request.parallel and passes:
            from models.parallel_generation import generate_parallel

            batch = request.batch_size or profile.inference.max_batch_size
            contexts = generate_parallel(generator, audio, conditioning, passes, finished=sources.finished,
                                         in_contexts=sources.in_contexts, start_ms=request.start_time,
                                         end_ms=request.end_time, batch_size=batch, progress=progress)
        else:
            contexts = generator.generate(audio, conditioning, passes, finished=sources.finished,
                                          in_contexts=sources.in_contexts, start_ms=request.start_time,
                                          end_ms=request.end_time, preload=sources.preload, progress=progress)
    return contexts


def _checkpoint(request: GenerateRequest):
    """(folder, vocabulary, profile) of the request's model; refuses a game mode the model does not make."""
    from models.loading import resolve_checkpoint
    from profiles import load_profile
    from profiles.detect import detect_profile
    from tokenization.beatmap import GameMode
    from tokenization.vocabulary import Vocabulary

    folder = resolve_checkpoint(request.model, request.gamemode)
    vocab = Vocabulary.load(folder)
    profile = load_profile(request.profile) if request.profile else detect_profile(folder, vocab)
    if request.gamemode not in profile.tokenizer.gamemodes:
        raise MapperInputError(f"the {profile.name} model does not make {GameMode(request.gamemode).name.lower()} maps")
    return folder, vocab, profile


def _load_model(folder, request: GenerateRequest):
    """The checkpoint on the request's device, with its LoRA adapter and precision; seeds torch first."""
    import torch

    from models.loading import load_model

    if request.seed is not None:
        torch.manual_seed(request.seed)
    model = load_model(folder, request.device)
    if request.lora is not None:
        from training.runs import apply_lora

        model = apply_lora(model, request.lora)
    model.encoder_autocast = request.precision == "amp"
    if request.precision == "int8":  # after the LoRA merge: the merged weights are the ones to round
        from models.quantization import quantize_decoder

        quantize_decoder(model)
    return model


def _device(wanted: str, warnings: list[str], precision: str = "fp32") -> str:
    """auto: the GPU when there is one (the CPU for int8, which only the CPU runs); an unavailable
    cuda falls back to the CPU with a warning."""
    import torch

    if precision == "int8" and wanted != "cpu":
        if wanted == "cuda":
            raise MapperInputError("--precision int8 runs on the CPU only: use --device cpu, or fp32/amp on a GPU")
        return "cpu"
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        warnings.append("no CUDA GPU is available: running on the CPU")
        return "cpu"
    return wanted


def _check_span(request: GenerateRequest, reference) -> None:
    start, end = request.start_time, request.end_time
    if start is not None and end is not None and end <= start:
        raise MapperInputError("--end-time must be after --start-time")
    if request.add_to_beatmap and reference is None:
        raise MapperInputError("--add-to-beatmap needs the reference --beatmap to add to")
    if request.overwrite and not request.add_to_beatmap:
        raise MapperInputError("--overwrite only applies with --add-to-beatmap")
    if request.add_to_beatmap and reference.mode.value != request.gamemode:
        raise MapperInputError(f"the reference is a {reference.mode.name.lower()} map; "
                               f"--gamemode must match it to add to it")


def _plan_passes(request: GenerateRequest, profile, vocab, finished: dict):
    """The passes to run, in the profile's order up to the last one asked for (a map needs its timing first)."""
    from tokenization.events import ContextType

    inference = profile.inference
    wanted = request.output_types or list(inference.output_type)
    unknown = [c for c in wanted if c not in inference.output_type and c != "map"]
    if unknown:
        raise MapperInputError(f"the {profile.name} model cannot write {unknown[0]!r} "
                               f"(it writes {', '.join(inference.output_type)})")
    last = max(list(inference.output_type).index(c) if c in inference.output_type else 0 for c in wanted)
    passes = [ContextType(c) for c in list(inference.output_type)[:last + 1]
              if ContextType(c) not in finished and (c != "sv" or request.gamemode == 3)
              and (ContextType(c) in vocab.context_sos or c == "map")]
    return passes, wanted


def _settings(request: GenerateRequest, profile):
    from models.decoding import SamplingSettings
    from models.generation import GenerationSettings

    inference = profile.inference
    def pick(asked, default):
        return default if asked is None else asked

    return GenerationSettings(
        temperature=pick(request.temperature, inference.temperature),
        timing_temperature=pick(request.timing_temperature, inference.timing_temperature),
        mania_column_temperature=pick(request.mania_column_temperature, inference.mania_column_temperature),
        taiko_hit_temperature=pick(request.taiko_hit_temperature, inference.taiko_hit_temperature),
        timeshift_bias=pick(request.timeshift_bias, inference.timeshift_bias),
        cfg_scale=pick(request.cfg_scale, inference.cfg_scale),
        lookback=pick(request.lookback, inference.lookback), lookahead=pick(request.lookahead, inference.lookahead),
        sampling=SamplingSettings(greedy=request.greedy, top_p=pick(request.top_p, inference.top_p),
                                  top_k=pick(request.top_k, inference.top_k), seed=request.seed,
                                  num_beams=request.num_beams))


def _postprocess(request, profile, contexts, reference, reference_timing, slider_multiplier, circle_size):
    from models.postprocess import BeatmapInfo, build_beatmap
    from tokenization.beatmap import GameMode

    inference = profile.inference
    meta = reference.metadata if reference is not None else None
    d = reference.difficulty if reference is not None else None
    defaults = BeatmapInfo()
    hp, od, ar, tick = ((d.hp_drain_rate, d.overall_difficulty, d.approach_rate, d.slider_tick_rate) if d else
                        (defaults.hp, defaults.overall_difficulty, defaults.approach_rate, defaults.slider_tick_rate))
    info = BeatmapInfo(
        title=request.title or (meta.title if meta and meta.title else request.audio.stem),
        artist=request.artist or (meta.artist if meta and meta.artist else "Unknown Artist"),
        title_unicode=request.title_unicode or (None if request.title or not meta else meta.title_unicode or None),
        artist_unicode=request.artist_unicode or (None if request.artist or not meta else meta.artist_unicode or None),
        source=request.source if request.source is not None else (meta.source if meta else ""),
        creator=_ai_creator(request.creator), version=request.version or f"{inference.version_name} (AI)",
        audio_filename=request.audio.name, mode=GameMode(request.gamemode),
        circle_size=circle_size, slider_multiplier=slider_multiplier, keycount=request.keycount,
        hp=_first(request.hp, hp), overall_difficulty=_first(request.overall_difficulty, od),
        approach_rate=_first(request.approach_rate, ar), slider_tick_rate=_first(request.slider_tick_rate, tick),
        tags=([f"seed-{request.seed}"] if request.seed is not None else [])
        + ([f"target-stars-{request.difficulty:g}"] if request.difficulty is not None else []))  # read by `mapper eval`
    beatmap, report = build_beatmap(contexts, profile.tokenizer, info, reference_timing=reference_timing,
                                    leniency_ms=_first(request.timing_leniency, inference.timing_leniency),
                                    resnap=_first(request.resnap, inference.resnap_events),
                                    types_first=profile.tokenizer.types_first,
                                    snap_overlaps=_first(request.snap_overlaps, inference.snap_near_perfect_overlaps))
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


def _wants_refinement(request: GenerateRequest, profile, wanted: list[str]) -> bool:
    if request.gamemode not in (0, 2) or "map" not in wanted:
        return False
    return profile.inference.generate_positions if request.refine is None else request.refine


def _diffusion_folder(request: GenerateRequest, warnings: list[str]) -> Path | None:
    """The diffusion model to refine with; without one at hand (and none asked for by name) the
    map keeps its token positions and says so."""
    from models.loading import resolve_checkpoint

    given = Path(request.diffusion_model).expanduser() if request.diffusion_model else None
    if given is not None and (given / "model_ema.pkl").is_file() and not (given / "model.safetensors").is_file():
        raise MapperInputError(f"{given}: the published pickled weights; convert them once with "
                               f"`mapper convert {given} --out {given}-safetensors` and pass that folder")
    try:
        return resolve_checkpoint(request.diffusion_model or DEFAULT_DIFFUSION_MODEL)
    except MapperInputError as exc:
        if request.diffusion_model is not None:
            raise
        warnings.append(f"positions not refined: {exc} (give --diffusion-model, or --no-refine)")
        return None


def _refine(request: GenerateRequest, folder: Path, beatmap, progress) -> None:
    """Diffusion refinement of the positions, with the sampling settings the model came with."""
    from diffusion.model import load_model as load_diffusion
    from diffusion.refine import MapClass, RefineSettings, refine_beatmap
    from diffusion.training import load_inference, load_vocabulary
    from models.postprocess import fill_durations

    model = load_diffusion(folder, request.device)
    defaults = load_inference(folder)
    settings = RefineSettings(steps=defaults.steps, eta=defaults.eta, cfg_scale=defaults.cfg_scale,
                              max_seq_len=defaults.max_seq_len, overlap=defaults.overlap,
                              attention_radius=defaults.attention_radius, start_time=request.start_time,
                              end_time=request.end_time, seed=request.seed)
    map_class = MapClass(stars=request.difficulty, descriptors=tuple(request.descriptors),
                         negative_descriptors=tuple(request.negative_descriptors),
                         circle_size=beatmap.difficulty.circle_size)
    report = progress or (lambda *args: None)
    refine_beatmap(model, load_vocabulary(folder), beatmap, settings, map_class,
                   progress=lambda done, total: report("refine", done, total), device=request.device)
    fill_durations(beatmap)


def _write(request: GenerateRequest, beatmap, reference, tokens: int, warnings: list[str]) -> GenerateResult:
    from models.postprocess import AI_TAGS
    from tokenization import write_beatmap

    backup = None
    if request.add_to_beatmap:
        from models.remap import splice

        merged = splice(reference, beatmap, request.start_time, request.end_time)
        merged.metadata.tags = list(dict.fromkeys(merged.metadata.tags + AI_TAGS))
        if request.overwrite:
            backup = backup_path(request.reference)
            backup.write_bytes(request.reference.read_bytes())
            path = write_beatmap(merged, request.reference, overwrite=True)
        else:
            m = merged.metadata
            m.version = f"{m.version} (AI remap)"
            m.creator = f"{m.creator} + mapper (AI)" if m.creator else "mapper (AI)"
            m.beatmap_id = 0  # a new difficulty, not yet submitted
            folder = request.out_dir
            stem = safe_filename(f"{m.artist} - {m.title} ({m.creator}) [{m.version}]")
            path = write_beatmap(merged, fresh_path(folder, stem))
        beatmap = merged
    else:
        request.out_dir.mkdir(parents=True, exist_ok=True)
        m = beatmap.metadata
        stem = safe_filename(f"{m.artist} - {m.title} ({m.creator}) [{m.version}]")
        path = write_beatmap(beatmap, fresh_path(request.out_dir, stem))
    written = [path]
    if request.export_osz:
        from tokenization.osz import write_osz

        written.append(write_osz({path.name: path, request.audio.name: request.audio},
                                 fresh_path(request.out_dir, path.stem, ".osz")))
    return GenerateResult(path, tokens, warnings, written, backup)


def backup_path(path: Path) -> Path:
    """A free name beside `path` for its old contents: `map.osu.bak`, then `map.osu.bak2`, ..."""
    candidate = path.with_name(path.name + ".bak")
    counter = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak{counter}")
        counter += 1
    return candidate
