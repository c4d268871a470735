"""The whole of `mapper generate`: audio and options in, a new .osu file out."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
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
    reference_timing: bool = False
    title: str | None = None
    artist: str | None = None
    slider_multiplier: float = 1.4
    circle_size: float = 4.0
    device: str = "cpu"
    lora: Path | None = None
    cfg_scale: float | None = None  # None: the profile's
    negative_descriptors: list[str] = field(default_factory=list)
    reference_kiai: bool = False
    output_types: list[str] = field(default_factory=list)  # passes to run; empty: the profile's
    export_osz: bool = False


@dataclass
class GenerateResult:
    path: Path
    tokens: int
    warnings: list[str]
    written: list[Path] = field(default_factory=list)  # every file, the .osu first


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
    import torch

    from models.audio import audio_duration_ms, load_audio
    from models.decoding import SamplingSettings
    from models.generation import GenerationSettings, Generator
    from models.loading import load_model, resolve_checkpoint
    from models.postprocess import BeatmapInfo, build_beatmap
    from profiles import load_profile
    from profiles.detect import detect_profile
    from tokenization import read_beatmap, write_beatmap
    from tokenization.beatmap import GameMode
    from tokenization.beatmap_to_events import BeatmapEncoder
    from tokenization.events import ContextType
    from tokenization.prompt import Conditioning, unknown_descriptors
    from tokenization.vocabulary import Vocabulary

    audio = load_audio(request.audio)
    folder = resolve_checkpoint(request.model, request.gamemode)
    vocab = Vocabulary.load(folder)
    profile = load_profile(request.profile) if request.profile else detect_profile(folder, vocab)
    if request.gamemode not in profile.tokenizer.gamemodes:
        raise MapperInputError(f"the {profile.name} model does not make {GameMode(request.gamemode).name.lower()} maps")
    warnings = [f"unknown descriptor {d!r} ignored" for d in unknown_descriptors(vocab, request.descriptors)]
    reference = read_beatmap(request.reference) if request.reference else None
    if request.seed is not None:
        torch.manual_seed(request.seed)
    model = load_model(folder, request.device)
    if request.lora is not None:
        from training.runs import apply_lora

        model = apply_lora(model, request.lora)

    song_ms = audio_duration_ms(audio)
    conditioning = Conditioning(
        gamemode=request.gamemode, difficulty=request.difficulty, year=request.year, song_length_ms=song_ms,
        slider_multiplier=request.slider_multiplier, circle_size=request.circle_size, keycount=request.keycount,
        descriptors=request.descriptors, negative_descriptors=request.negative_descriptors)
    inference = profile.inference
    settings = GenerationSettings(
        temperature=inference.temperature if request.temperature is None else request.temperature,
        timing_temperature=inference.timing_temperature, mania_column_temperature=inference.mania_column_temperature,
        taiko_hit_temperature=inference.taiko_hit_temperature, timeshift_bias=inference.timeshift_bias,
        cfg_scale=inference.cfg_scale if request.cfg_scale is None else request.cfg_scale,
        sampling=SamplingSettings(greedy=request.greedy, top_p=inference.top_p if request.top_p is None
                                  else request.top_p, top_k=inference.top_k, seed=request.seed))
    finished = {}
    reference_timing = None
    if reference is not None and request.reference_timing:
        finished[ContextType.TIMING] = BeatmapEncoder(reference, profile.tokenizer).timing_events(song_ms).events
        reference_timing = reference.timing_points
    if reference is not None and request.reference_kiai:
        if ContextType.KIAI not in vocab.context_sos:
            raise MapperInputError(f"the {profile.name} model has no kiai context to take from --beatmap")
        finished[ContextType.KIAI] = BeatmapEncoder(reference, profile.tokenizer).kiai_events().events
    wanted = request.output_types or list(inference.output_type)
    unknown = [c for c in wanted if c not in inference.output_type and c != "map"]
    if unknown:
        raise MapperInputError(f"the {profile.name} model cannot write {unknown[0]!r} "
                               f"(it writes {', '.join(inference.output_type)})")
    # Passes run in the profile's order up to the last one asked for: a map needs its timing first.
    last = max(list(inference.output_type).index(c) if c in inference.output_type else 0 for c in wanted)
    passes = [ContextType(c) for c in list(inference.output_type)[:last + 1]
              if ContextType(c) not in finished and (c != "sv" or request.gamemode == 3)
              and (ContextType(c) in vocab.context_sos or c == "map")]
    generator = Generator(model, vocab, profile, settings, request.device)
    with torch.inference_mode():
        contexts = generator.generate(audio, conditioning, passes, finished=finished, progress=progress)
    contexts = {c: events for c, events in contexts.items() if c.value in wanted or c is ContextType.TIMING or c in finished}

    meta = reference.metadata if reference is not None else None
    info = BeatmapInfo(
        title=request.title or (meta.title if meta and meta.title else request.audio.stem),
        artist=request.artist or (meta.artist if meta and meta.artist else "Unknown Artist"),
        version=f"{inference.version_name} (AI)", audio_filename=request.audio.name, mode=GameMode(request.gamemode),
        circle_size=request.circle_size, slider_multiplier=request.slider_multiplier, keycount=request.keycount,
        tags=[f"seed-{request.seed}"] if request.seed is not None else [])
    beatmap, report = build_beatmap(contexts, profile.tokenizer, info, reference_timing=reference_timing,
                                    leniency_ms=inference.timing_leniency, resnap=inference.resnap_events,
                                    types_first=profile.tokenizer.types_first)
    if report.dropped_groups or report.stray_events:
        warnings.append(f"repaired the model's output: dropped {report.dropped_groups} incomplete object(s) and "
                        f"{report.stray_events} stray token(s)")
    if not beatmap.hit_objects:
        warnings.append("the model placed no objects (an untrained or unsuitable model?)")
    request.out_dir.mkdir(parents=True, exist_ok=True)
    stem = safe_filename(f"{info.artist} - {info.title} ({info.creator}) [{info.version}]")
    path = write_beatmap(beatmap, fresh_path(request.out_dir, stem))
    written = [path]
    if request.export_osz:
        from tokenization.osz import write_osz

        written.append(write_osz({path.name: path, request.audio.name: request.audio},
                                 fresh_path(request.out_dir, stem, ".osz")))
    return GenerateResult(path, generator.generated_tokens, warnings, written)
