"""The whole of `mapper generate`: audio and options in, a new .osu file out. This module runs the
passes (checkpoint, model, windows, decoding); `request` says what is asked, `output` writes it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from models.pipeline.output import _diffusion_folder, _postprocess, _refine, _wants_refinement, _write
from models.pipeline.request import GenerateRequest, GenerateResult
from tokenization.errors import MapperInputError


def run_generation(request: GenerateRequest, progress: Callable[[str, int, int], None] | None = None) -> GenerateResult:

    from models.audio.loading import load_song
    from models.generation.generator import Generator
    from models.generation.given_contexts import given_contexts, reference_style
    from models.generation.trace import Trace
    from tokenization import read_beatmap
    from tokenization.events import ContextType
    from tokenization.prompt import Conditioning, unknown_descriptors

    reference = read_beatmap(request.reference) if request.reference else None
    _check_span(request, reference)
    song = load_song(request.audio, until_ms=None if request.end_time is None else 0)  # 0: length and peak only
    folder, vocab, profile = _checkpoint(request)
    warnings = [f"unknown descriptor {d!r} ignored" for d in unknown_descriptors(vocab, request.descriptors)]
    if request.mapper_id is not None and request.mapper_id not in vocab.mapper_idx:
        warnings.append(f"the model does not know mapper {request.mapper_id}: no mapper style used")
    if request.beatmap_id is not None and request.beatmap_id not in vocab.beatmap_idx:
        warnings.append(f"the model does not know beatmap {request.beatmap_id}: no beatmap style used")
    request = replace(request, device=_device(request.device, warnings, request.precision))
    song_ms = song.duration_ms
    sources = given_contexts(request, reference, profile, vocab, song_ms)
    passes, wanted = _plan_passes(request, profile, vocab, sources.finished)
    audio = song.samples if request.end_time is None else _samples_for_span(request, profile, vocab, passes)
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
                                            slider_multiplier, circle_size, song_ms)
    warnings += report_warnings
    if beatmap.hit_objects and diffusion_folder is not None:
        _refine(request, diffusion_folder, beatmap, progress)
    return _write(request, beatmap, reference, generator.generated_tokens, warnings)


def _samples_for_span(request, profile, vocab, passes):
    """The song up to --end-time and two windows beyond (the windows reaching the span see exactly the
    samples they would see in the whole song), so a 3-hour file mapped for 5 s is not held whole;
    the whole song when super timing, which votes over all of it, is to run."""
    from models.audio.loading import load_audio
    from tokenization.events import ContextType

    super_timing = profile.inference.super_timing if request.super_timing is None else request.super_timing
    if ContextType.TIMING in passes and super_timing and ContextType.TIMING in vocab.context_sos:
        return load_audio(request.audio)
    return load_audio(request.audio, until_ms=request.end_time + 2 * profile.window_ms)


def _decode_passes(request, generator, model, vocab, profile, audio, conditioning, sources, passes, progress):
    """Every pass the request needs: super timing first when asked, then the rest in order."""
    import torch

    from models.generation.given_contexts import super_timing
    from tokenization.events import ContextType

    if ContextType.TIMING in passes:
        with torch.inference_mode():
            super_timing(request, model, vocab, profile, audio, conditioning, sources, progress,
                         trace=generator.trace)
        passes = [p for p in passes if p not in sources.finished]
    with torch.inference_mode():
        if request.parallel and passes:
            from models.generation.parallel import generate_parallel

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
        from models.loading import apply_lora

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
    from models.decoding.batch import SamplingSettings
    from models.generation.generator import GenerationSettings

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


