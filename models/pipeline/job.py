"""One run of `mapper generate`: a `GenerationJob` holds the verified request, the checkpoint's
vocabulary and profile, the model, the song and what the reference gives, for the whole run; its
methods are the steps. One difficulty and a mapset are one path over a list of star ratings: the
passes are decoded (a mapset's shared timing and kiai once, with the middle difficulty; its other
passes for every difficulty together), each difficulty is built and refined, then written: one
file, or a mapset folder (models.pipeline.mapset)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from models.generation.given_contexts import GivenContexts, GivenOptions
from models.pipeline.request import GenerateRequest
from tokenization.errors import MapperInputError

Progress = Callable[[str, int, int], None]
SHARED_PASSES = ("timing", "kiai")  # a mapset keeps one timing and one set of kiai sections


def checkpoint_of(request: GenerateRequest):
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


class GenerationJob:
    """Everything a run needs, found once before any decoding: a missing checkpoint, a game mode
    the model does not make or a bad --diffusion-model fail in seconds, not after minutes."""

    def __init__(self, request: GenerateRequest, progress: Progress | None = None):
        from models.audio.loading import load_song
        from models.audio.playback_delay import playback_delay_ms
        from models.generation.given_contexts import given_contexts, reference_style
        from tokenization import read_beatmap

        self.request = request.verify()
        self.progress = progress
        self.reference = read_beatmap(request.reference) if request.reference else None
        self._check_reference_mode()
        self.folder, self.vocab, self.profile = checkpoint_of(self.request)
        self.warnings = self._style_warnings()
        self.device = self._device()
        # with --end-time, only the span (and two windows beyond) is decoded, so a 3-hour file mapped for
        # 5 s is never held whole; the song's length is still the whole song's
        song = load_song(request.audio, until_ms=None if request.end_time is None else self._span_end_ms())
        self.audio, self.song_ms = song.samples, song.duration_ms
        self.playback_delay_ms = playback_delay_ms(request.audio)  # osu! plays the song this much later
        self.given: GivenContexts = given_contexts(self.given_options(), self.reference, self.profile, self.vocab,
                                                   self.song_ms)
        self.given_before = set(self.given.finished)  # from the reference or a tempo, before any decoding
        d = self.reference.difficulty if self.reference is not None else None
        self.heard_settings = self._heard_settings()  # a map on the heard rhythm: real maps' settings, unless given
        default_cs = (self.heard_settings and self.heard_settings.circle_size) or 4.0
        self.slider_multiplier = request.slider_multiplier or (d.slider_multiplier if d else 1.4)
        self.circle_size = request.circle_size or (d.circle_size if d and request.gamemode != 3 else default_cs)
        self.rhythm_strengths: dict[float, float] = {}  # heard candidate time -> onset strength
        self.object_times = self._audio_rhythm()  # before the passes are planned: it may give the timing
        self.passes, self.wanted = self._plan_passes()
        if request.end_time is not None and self._votes_over_the_song():  # super timing hears the whole song
            self.audio = load_song(request.audio).samples
        from models.pipeline.output import diffusion_folder, wants_refinement

        self.diffusion_folder = (diffusion_folder(request, self.warnings)
                                 if wants_refinement(request, self.profile, self.wanted) else None)
        self.style = reference_style(request.reference, self.reference) if self.reference is not None else {}
        self.model = None
        self.generator = None

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> list[tuple[float | None, object]]:
        """(star rating, beatmap) for each difficulty asked for, built and refined, not yet written."""
        from models.generation.generator import Generator
        from models.generation.trace import Trace

        self.model = self._load_model()
        stars = [self.stars(asked) for asked in self.request.star_ratings]
        conditionings = [self.conditioning(s) for s in stars]
        self.generator = Generator(self.model, self.vocab, self.profile, self.settings(), self.device)
        trace = Trace(self.request.trace) if self.request.trace is not None else None
        self.generator.trace = trace
        self.generator.object_times = self.object_times
        try:
            per_difficulty = self.decode(conditionings)
        finally:
            if trace is not None:
                trace.write()  # also after a failure: the calls up to it are what a debugger wants
        return [(s, self.beatmap(s, contexts)) for s, contexts in zip(stars, per_difficulty)]

    def decode(self, conditionings: list) -> list[dict]:
        """Every pass for every difficulty: super timing first when asked; one difficulty's passes in
        one sweep (or side by side with --parallel); a mapset's shared passes once with its middle
        difficulty, the rest for all difficulties together."""
        import torch

        from models.generation.difficulty_batch import DifficultyBatch
        from models.generation.given_contexts import super_timing
        from models.generation.parallel import ParallelWindows
        from tokenization.events import ContextType

        r, g, given = self.request, self.generator, self.given
        middle = conditionings[len(conditionings) // 2]  # the shared passes hear the middle difficulty
        mapset = len(conditionings) > 1
        shared = [p for p in self.passes if p.value in SHARED_PASSES] if mapset else list(self.passes)
        span = {"in_contexts": given.in_contexts, "start_ms": r.start_time, "end_ms": r.end_time,
                "progress": self.progress}
        with torch.inference_mode():
            if ContextType.TIMING in shared:
                super_timing(self.given_options(), self.model, self.vocab, self.profile, self.audio, middle, given,
                             self.progress, trace=g.trace)
            shared = [p for p in shared if p not in given.finished]
            if not mapset:
                if r.parallel and shared and g.object_times is None:
                    strategy = ParallelWindows(r.batch_size or self.profile.inference.max_batch_size)
                    return [g.generate(self.audio, middle, shared, finished=given.finished, strategy=strategy, **span)]
                return [g.generate(self.audio, middle, shared, finished=given.finished, preload=given.preload, **span)]
            if shared:
                found = g.generate(self.audio, middle, shared, finished=given.finished, **span)
                given.finished.update({p: found[p] for p in shared})
            rest = [p for p in self.passes if p.value not in SHARED_PASSES]
            return g.generate_each(self.audio, conditionings, rest, finished=given.finished,
                                   strategy=DifficultyBatch(), **span)

    def beatmap(self, stars: float | None, contexts: dict):
        """One difficulty's beatmap from its contexts (those asked for, the timing and the given ones),
        its positions refined when the profile or --refine asks."""
        from models.pipeline.output import build_output, refine_positions
        from tokenization.events import ContextType

        kept = {c: events for c, events in contexts.items()
                if c.value in self.wanted or c is ContextType.TIMING or c in self.given_before}
        version = f"{stars:g} stars (AI)" if self.request.mapset else None
        beatmap, warnings = build_output(self.request, self.profile, kept, self.reference,
                                         self.given.reference_timing, self.slider_multiplier, self.circle_size,
                                         self.song_ms, stars=stars, version=version)
        self.warnings += [f"{stars:g} stars: {w}" for w in warnings] if self.request.mapset else warnings
        if beatmap.hit_objects and self.diffusion_folder is not None:
            refine_positions(self.request, self.diffusion_folder, beatmap, self.progress, stars=stars,
                             device=self.device)
        if self.object_times is not None and not self.request.add_to_beatmap:  # density chosen on a stand-in map
            from models.pipeline.heard_map import finish_heard_map

            finish_heard_map(beatmap, self.object_times, self.rhythm_strengths, self.audio, self.playback_delay_ms,
                             stars, hitsounded=self.request.hitsounded is not False)
        return beatmap

    # -- what the steps are given ------------------------------------------------------------
    def given_options(self) -> GivenOptions:
        """generation's view of the request: what it is given and how to find the timing."""
        r = self.request
        return GivenOptions(reference_path=r.reference, in_context=tuple(r.in_context), bpm=r.bpm, offset=r.offset,
                            continue_before_ms=r.start_time if r.add_to_beatmap else None,
                            super_timing=r.super_timing, timing_passes=r.timing_passes, batch_size=r.batch_size,
                            seed=r.seed, device=self.device)

    def _span_end_ms(self) -> float:
        """Where the samples a span needs end: the windows reaching --end-time see exactly the samples they
        would see in the whole song."""
        return self.request.end_time + 2 * self.profile.window_ms

    def _votes_over_the_song(self) -> bool:
        """Whether super timing, which votes over the whole song, is to run."""
        from tokenization.events import ContextType

        r, inference = self.request, self.profile.inference
        wanted = inference.super_timing if r.super_timing is None else r.super_timing
        return ContextType.TIMING in self.passes and wanted and ContextType.TIMING in self.vocab.context_sos

    def _audio_rhythm(self) -> list[float] | None:
        """The object times heard in the song (models.generation.audio_rhythm) for a model that cannot time it
        itself, the heard red lines given to the passes when nothing else gave the timing; else None. A mapset
        gets the heard timing, but each difficulty's objects keep the model's own rhythm on it."""
        from models.generation.audio_rhythm import RhythmOptions, audio_rhythm

        r = self.request
        options = RhythmOptions(rhythm=r.rhythm, stars=r.difficulty, gamemode=r.gamemode, keycount=r.keycount,
                                start_ms=r.start_time, end_ms=r.end_time, playback_delay_ms=self.playback_delay_ms)
        heard = audio_rhythm(options, self.profile, self.vocab, self.audio, self.song_ms, self.given,
                             circle_size=self.circle_size, slider_multiplier=self.slider_multiplier)
        if heard is None or r.mapset:
            return None
        self.rhythm_strengths = heard.strengths
        if self.heard_settings is not None and r.slider_multiplier is None:  # real maps' slider speed at this tempo
            self.slider_multiplier = self.heard_settings.slider_multiplier(heard.beat_ms) or self.slider_multiplier
        if r.resnap is None:  # the heard times are on the grid already
            self.request = replace(r, resnap=False)
        if r.parallel:
            self.warnings.append("--parallel does not hold objects to the audio's rhythm: decoding window by window")
        return heard.times

    def _heard_settings(self):
        """For a single map on the heard rhythm with no reference to take them from, the difficulty settings of real
        maps of the asked rating (models.generation.difficulty_settings): HP, OD and AR put in the request where
        not given (circle size and slider multiplier are the job's own); else None."""
        from models.generation.audio_rhythm import DEFAULT_STARS, uses_audio_rhythm
        from models.generation.difficulty_settings import settings_for_stars

        r = self.request
        if self.reference is not None or r.mapset or not uses_audio_rhythm(r.rhythm, self.profile):
            return None
        s = settings_for_stars(r.gamemode, r.difficulty if r.difficulty is not None else DEFAULT_STARS)
        self.request = replace(r, **{key: value for key, value in (("hp", s.hp), ("overall_difficulty", s.overall_difficulty),
                                                                  ("approach_rate", s.approach_rate))
                                     if getattr(r, key) is None and value is not None})
        return s

    def stars(self, asked: float | None) -> float | None:
        """The star rating a difficulty is made for: the one asked for, else the reference's."""
        return asked if asked is not None else self.style.get("difficulty")

    def conditioning(self, stars: float | None):
        """The prompt's class values for one difficulty (unasked style values: the reference's)."""
        from tokenization.prompt import Conditioning

        r = self.request
        def asked(key):
            value = getattr(r, key)
            return value if value is not None else self.style.get(key)

        hitsounded = asked("hitsounded")
        return Conditioning(
            gamemode=r.gamemode, difficulty=stars, year=r.year, song_length_ms=self.song_ms,
            slider_multiplier=self.slider_multiplier, circle_size=self.circle_size, keycount=r.keycount,
            descriptors=r.descriptors, negative_descriptors=r.negative_descriptors, mapper_id=r.mapper_id,
            beatmap_id=r.beatmap_id, hitsounded=True if hitsounded is None else hitsounded,
            hold_note_ratio=asked("hold_note_ratio"), scroll_speed_ratio=asked("scroll_speed_ratio"))

    def settings(self):
        """Sampling and window settings: each option asked for, else the profile's."""
        from models.decoding.batch import SamplingSettings
        from models.generation.generator import GenerationSettings

        r, inference = self.request, self.profile.inference
        def pick(asked, default):
            return default if asked is None else asked

        return GenerationSettings(
            temperature=pick(r.temperature, inference.temperature),
            timing_temperature=pick(r.timing_temperature, inference.timing_temperature),
            mania_column_temperature=pick(r.mania_column_temperature, inference.mania_column_temperature),
            taiko_hit_temperature=pick(r.taiko_hit_temperature, inference.taiko_hit_temperature),
            timeshift_bias=pick(r.timeshift_bias, inference.timeshift_bias),
            cfg_scale=pick(r.cfg_scale, inference.cfg_scale),
            lookback=pick(r.lookback, inference.lookback), lookahead=pick(r.lookahead, inference.lookahead),
            sampling=SamplingSettings(greedy=r.greedy, top_p=pick(r.top_p, inference.top_p),
                                      top_k=pick(r.top_k, inference.top_k), seed=r.seed, num_beams=r.num_beams))

    # -- found before the run ----------------------------------------------------------------
    def _check_reference_mode(self) -> None:
        """The one check that needs the reference's contents (the rest are GenerateRequest.verify's)."""
        if self.request.add_to_beatmap and self.reference.mode.value != self.request.gamemode:
            raise MapperInputError(f"the reference is a {self.reference.mode.name.lower()} map; "
                                   f"--gamemode must match it to add to it")


    def _style_warnings(self) -> list[str]:
        from tokenization.prompt import unknown_descriptors

        r, vocab = self.request, self.vocab
        warnings = [f"unknown descriptor {d!r} ignored" for d in unknown_descriptors(vocab, r.descriptors)]
        if r.mapper_id is not None and r.mapper_id not in vocab.mapper_idx:
            warnings.append(f"the model does not know mapper {r.mapper_id}: no mapper style used")
        if r.beatmap_id is not None and r.beatmap_id not in vocab.beatmap_idx:
            warnings.append(f"the model does not know beatmap {r.beatmap_id}: no beatmap style used")
        return warnings

    def _device(self) -> str:
        """auto: the GPU when there is one (the CPU for int8, which only the CPU runs); an unavailable
        cuda falls back to the CPU with a warning."""
        import torch

        wanted = self.request.device
        if self.request.precision == "int8":  # never with cuda: GenerateRequest.verify refuses that
            return "cpu"
        if wanted == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if wanted == "cuda" and not torch.cuda.is_available():
            self.warnings.append("no CUDA GPU is available: running on the CPU")
            return "cpu"
        return wanted

    def _plan_passes(self):
        """The passes to run, in the profile's order up to the last one asked for (a map needs its timing first)."""
        from tokenization.events import ContextType

        r, inference = self.request, self.profile.inference
        wanted = r.output_types or list(inference.output_type)
        unknown = [c for c in wanted if c not in inference.output_type and c != "map"]
        if unknown:
            raise MapperInputError(f"the {self.profile.name} model cannot write {unknown[0]!r} "
                                   f"(it writes {', '.join(inference.output_type)})")
        last = max(list(inference.output_type).index(c) if c in inference.output_type else 0 for c in wanted)
        passes = [ContextType(c) for c in list(inference.output_type)[:last + 1]
                  if ContextType(c) not in self.given.finished and (c != "sv" or r.gamemode == 3)
                  and (ContextType(c) in self.vocab.context_sos or c == "map")]
        return passes, wanted

    def _load_model(self):
        """The checkpoint on the job's device, with its LoRA adapter and precision; seeds torch first."""
        import torch

        from models.loading import load_model

        r = self.request
        if r.seed is not None:
            torch.manual_seed(r.seed)
        model = load_model(self.folder, self.device)
        if r.lora is not None:
            from models.loading import apply_lora

            model = apply_lora(model, r.lora)
        model.encoder_autocast = r.precision == "amp"
        if r.precision == "int8":  # after the LoRA merge: the merged weights are the ones to round
            from models.quantization import quantize_decoder

            quantize_decoder(model)
        return model
