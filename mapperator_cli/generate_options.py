"""Every option of `mapper generate`, in one table: its flags, type, default, help panel and help,
and the `GenerateRequest` field it fills. The command's signature and the request are built from
this table, and the wizard takes its flags from it too, so an option is added once. The range an
option's value must lie in is its quantity's (profiles.limits), checked by `GenerateRequest.verify`;
`check` is only for an option that fills no request quantity.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer

from models.pipeline.request import DEVICES, GAMEMODES, IN_CONTEXTS, OUTPUT_TYPES, PRECISIONS, RHYTHMS
from profiles import limits
from profiles.limits import Check, Range  # noqa: F401 - the table's `check` column takes them

MODEL, STYLE, SETTINGS, SAMPLING, REFERENCE = "Model", "Map style", "Beatmap settings", "Sampling", "Reference beatmap"
CLEANUP, OUTPUT, METADATA, SPEED = "Timing and cleanup", "Output", "Metadata", "Speed"
SAME = "same"  # the request field has the option's name
OSU, TAIKO, CATCH, MANIA = "osu", "taiko", "catch", "mania"
PROGRESS_FORMATS = ("bar", "json")


@dataclass(frozen=True)
class Option:
    name: str  # the parameter name
    flags: str | tuple[str, ...]  # as typer takes them: "--seed", "--refine/--no-refine", ("--quiet", "-q")
    type: object
    default: object
    panel: str
    help: str
    field: str | None = SAME  # the GenerateRequest field it fills as given; None: the command converts it
    check: Range | Check | None = None
    show_default: bool = True
    choices: tuple[str, ...] | None = None  # the values it takes (each item, for a repeatable option): for forms
    modes: tuple[str, ...] | None = None  # the game modes it applies to (None: all): forms show it for those only

    @property
    def flag(self) -> str:
        """The long flag (the positive one of a --x/--no-x pair)."""
        first = self.flags if isinstance(self.flags, str) else self.flags[0]
        return first.split("/")[0]

    @property
    def quantity(self) -> str:
        """The request field (and profiles.limits quantity) the option gives a value for."""
        return self.name if self.field in (SAME, None) else self.field

    def problem(self, value) -> str | None:
        """The one line saying why `value` is refused, or None."""
        check = self.check or limits.LIMITS.get(self.quantity)
        problem = None if value is None or check is None else check.problem(value)
        return None if problem is None else f"{self.flag} {problem}"


OPTIONS = [
    Option('model', '--model', str | None, None, MODEL,
           'Checkpoint folder (config.json, model.safetensors, tokenizer.json), a Hugging Face hub id or '
           'v29/v30/v31/v32; default: $MAPPER_MODEL, else the bundled starter model.',
           field=None, show_default=False),
    Option('profile', '--profile', str | None, None, MODEL,
           'Profile of the checkpoint (detected if left out).'),
    Option('lora', '--lora', Path | None, None, MODEL,
           'LoRA adapter folder (from `mapper lora`), merged at load.'),
    Option('refine', '--refine/--no-refine', bool | None, None, MODEL,
           'Refine positions with the diffusion model (osu!, catch; default: as the profile says, on for '
           'v29).',
           show_default=False),
    Option('diffusion_model', '--diffusion-model', str | None, None, MODEL,
           'Diffusion model folder (from `mapper convert` or `mapper train --profile diffusion`); default: '
           'the published one, if downloaded.'),
    Option('gamemode', '--gamemode', str | None, None, STYLE,
           "osu, taiko, catch or mania, or their numbers 0-3 (the reference's, else osu).",
           field=None,
           choices=tuple(GAMEMODES)),
    Option('difficulty', '--difficulty', str | None, None, STYLE,
           'Target star rating (unknown if left out); a list such as 2,3.5,5 makes a mapset: one shared '
           'timing, a difficulty file each.',
           field=None),
    Option('year', '--year', int | None, None, STYLE,
           'Mapping style of this year (2007-2023).'),
    Option('descriptor', '--descriptor', list[str], [], STYLE,
           "Style descriptor (repeatable), e.g. 'jump aim'.",
           field=None),
    Option('negative_descriptor', '--negative-descriptor', list[str], [], STYLE,
           'Descriptor to steer away from (repeatable; needs --cfg-scale above 1).',
           field=None),
    Option('keycount', '--keycount', int | None, None, STYLE,
           "osu!mania key count (the reference's, else 4).",
           field=None,
           modes=(MANIA,)),
    Option('slider_multiplier', '--slider-multiplier', float | None, None, STYLE,
           "Base slider velocity (the reference's, else 1.4; osu! and catch on the heard rhythm: real maps' slider speed at the star rating and tempo).",
           modes=(OSU, TAIKO, CATCH)),
    Option('circle_size', '--circle-size', float | None, None, STYLE,
           "Circle size, osu! and catch (the reference's, else 4; on the heard rhythm, real maps' at the star rating).",
           modes=(OSU, CATCH)),
    Option('mapper', '--mapper', int | None, None, STYLE,
           'osu! user id of a mapper whose style to follow (one the model knows).',
           field='mapper_id'),
    Option('beatmap_id', '--beatmap-id', int | None, None, STYLE,
           "A training beatmap's id as a style class (older models)."),
    Option('hitsounded', '--hitsounded/--no-hitsounds', bool | None, None, STYLE,
           "Whether the map carries hitsounds (the reference's, else yes).",
           show_default=False),
    Option('hold_note_ratio', '--hold-note-ratio', float | None, None, STYLE,
           'osu!mania: share of hold notes, 0-1.',
           modes=(MANIA,)),
    Option('scroll_speed_ratio', '--scroll-speed-ratio', float | None, None, STYLE,
           'osu!mania/taiko: scroll-speed changes per note time, 0-1.',
           modes=(TAIKO, MANIA)),
    Option('hp', '--hp', float | None, None, SETTINGS,
           "HP drain rate (the reference's, else 5; on the heard rhythm, real maps' at the star rating)."),
    Option('od', '--od', float | None, None, SETTINGS,
           "Overall difficulty (the reference's, else 8; on the heard rhythm, real maps' at the star rating).",
           field='overall_difficulty'),
    Option('ar', '--ar', float | None, None, SETTINGS,
           "Approach rate (the reference's, else 9; on the heard rhythm, real maps' at the star rating).",
           field='approach_rate',
           modes=(OSU, CATCH)),
    Option('slider_tick_rate', '--slider-tick-rate', float | None, None, SETTINGS,
           "Slider ticks per beat (the reference's, else 1).",
           modes=(OSU, TAIKO, CATCH)),
    Option('cfg_scale', '--cfg-scale', float | None, None, SAMPLING,
           'Classifier-free guidance strength: 1 is off, higher follows descriptors and mapper more (profile'
           ' default).'),
    Option('seed', '--seed', int | None, None, SAMPLING,
           'Random seed: the same seed gives the same map.'),
    Option('greedy', '--greedy', bool, False, SAMPLING,
           'Always take the likeliest token (no sampling).'),
    Option('temperature', '--temperature', float | None, None, SAMPLING,
           'Sampling temperature (profile default).'),
    Option('top_p', '--top-p', float | None, None, SAMPLING,
           'Nucleus sampling threshold (profile default).'),
    Option('top_k', '--top-k', int | None, None, SAMPLING,
           'Sample from the k likeliest tokens only; 0 is off (profile default).'),
    Option('num_beams', '--num-beams', int, 1, SAMPLING,
           'Beam search over this many hypotheses per window (deterministic: no sampling; slower by about '
           'that factor).'),
    Option('timing_temperature', '--timing-temperature', float | None, None, SAMPLING,
           'Temperature for the time after a beat marker (profile default).'),
    Option('mania_column_temperature', '--mania-column-temperature', float | None, None, SAMPLING,
           'Temperature for mania columns (profile default).',
           modes=(MANIA,)),
    Option('taiko_hit_temperature', '--taiko-hit-temperature', float | None, None, SAMPLING,
           'Temperature for taiko hit types (profile default).',
           modes=(TAIKO,)),
    Option('timeshift_bias', '--timeshift-bias', float | None, None, SAMPLING,
           "Added to every time token's logit: above 0 places objects sooner, denser (profile default)."),
    Option('lookback', '--lookback', float | None, None, SAMPLING,
           'Share of each window prefilled from the earlier windows (profile default, 0.5).'),
    Option('lookahead', '--lookahead', float | None, None, SAMPLING,
           "Share at each window's end left to the next window (profile default, 0.4)."),
    Option('beatmap', '--beatmap', Path | None, None, REFERENCE,
           'Reference .osu: fills in audio, metadata, difficulty settings and the output folder; source of '
           '--in-context and --add-to-beatmap.',
           field=None),
    Option('in_context', '--in-context', list[str], [], REFERENCE,
           'Take from --beatmap (repeatable): timing, kiai, gd (use it as a guest difficulty to match) or '
           'no_hs (keep its objects, add hitsounds).',
           field=None,
           choices=IN_CONTEXTS),
    Option('start_time', '--start-time', str | None, None, REFERENCE,
           'Generate from here (ms, m:ss.s or mm:ss:mmm).',
           field=None),
    Option('end_time', '--end-time', str | None, None, REFERENCE,
           'Generate up to here (ms, m:ss.s or mm:ss:mmm).',
           field=None),
    Option('add_to_beatmap', '--add-to-beatmap', bool, False, REFERENCE,
           'Splice the generated span into --beatmap, written as a new difficulty file beside it.'),
    Option('overwrite', '--overwrite', bool, False, REFERENCE,
           'With --add-to-beatmap: replace --beatmap itself (its old contents are kept as .osu.bak).'),
    Option('out', '--out', Path | None, None, OUTPUT,
           "Folder for the new beatmap (the reference's folder, else the current one; nothing is "
           'overwritten).',
           field=None),
    Option('output_type', '--output-type', list[str], [], OUTPUT,
           'What to write (repeatable): timing, kiai, map, sv (profile default: all it makes).',
           field=None,
           choices=OUTPUT_TYPES),
    Option('export_osz', '--export-osz', bool, False, OUTPUT,
           'Also write an .osz with the map and the song.'),
    Option('trace', '--trace', Path | None, None, OUTPUT,
           'Write one JSON line per decoder call to this file (pass, window, prompt ids, generated ids): for'
           ' debugging and comparing runs.'),
    Option('bpm', '--bpm', float | None, None, CLEANUP,
           "The song's tempo, if you know it: one red line at --offset instead of generated timing."),
    Option('offset', '--offset', float | None, None, CLEANUP,
           'With --bpm: ms of the first beat (default 0).'),
    Option('rhythm', '--rhythm', str | None, None, CLEANUP,
           'Where timing and object times come from: audio (heard in the song: red lines unless --bpm or '
           '--in-context timing give them, objects only on its onsets, as many as the star rating asks) or '
           'model (the model times the song itself). Default: audio for the bundled starter, model otherwise.',
           show_default=False, choices=RHYTHMS),
    Option('super_timing', '--super-timing/--no-super-timing', bool | None, None, CLEANUP,
           'Find the timing by voting over passes on shifted audio, as `mapper timing` does (profile '
           'default: on for v29).',
           show_default=False),
    Option('timing_passes', '--timing-passes', int | None, None, CLEANUP,
           'Passes to vote over with --super-timing (profile default, 20).'),
    Option('timing_leniency', '--timing-leniency', float | None, None, CLEANUP,
           'ms a generated beat may be off when BPMs are fitted to them (profile default).'),
    Option('resnap', '--resnap/--no-resnap', bool | None, None, CLEANUP,
           'Snap objects onto the beat divisors the model gave (profile default: on).',
           show_default=False),
    Option('snap_overlaps', '--snap-overlaps/--no-snap-overlaps', bool | None, None, CLEANUP,
           'Merge objects that nearly overlap (< 3.8 px within 1 s; profile default).',
           show_default=False),
    Option('title', '--title', str | None, None, METADATA,
           'Song title.'),
    Option('artist', '--artist', str | None, None, METADATA,
           'Artist.'),
    Option('title_unicode', '--title-unicode', str | None, None, METADATA,
           'Title in its own script (default: --title).'),
    Option('artist_unicode', '--artist-unicode', str | None, None, METADATA,
           'Artist in its own script (default: --artist).'),
    Option('creator', '--creator', str | None, None, METADATA,
           "Creator name; '(AI)' is added unless it says AI."),
    Option('version', '--difficulty-name', str | None, None, METADATA,
           "Difficulty name, the .osu Version (default: the model's version name + ' (AI)')."),
    Option('source', '--source', str | None, None, METADATA,
           'Source of the song (a game, an anime...).'),
    Option('quiet', ('--quiet', '-q'), bool, False, OUTPUT,
           'No progress on stderr.',
           field=None),
    Option('progress', '--progress', str, 'bar', OUTPUT,
           'How progress is shown on stderr: bar, or json (for tools: one JSON line per update with pass, '
           'done, total, tokens and tokens_per_s).',
           field=None, choices=PROGRESS_FORMATS,
           check=Check(lambda v: v in PROGRESS_FORMATS, f"takes {' or '.join(PROGRESS_FORMATS)}")),
    Option('parallel', '--parallel', bool, False, SPEED,
           'Cut the song into side-by-side windows and decode them in batches, all contexts at once: several'
           ' times faster, less coherent at window edges.'),
    Option('batch_size', '--batch-size', int | None, None, SPEED,
           'Windows decoded together with --parallel and super timing (profile default; halved by --cfg-'
           'scale in --parallel).'),
    Option('device', '--device', str, 'auto', SPEED,
           'auto (a CUDA GPU when there is one), cpu or cuda.',
           choices=DEVICES),
    Option('precision', '--precision', str, 'fp32', SPEED,
           "fp32; amp: the audio encoder in bf16 autocast (much faster on GPUs and CPUs with bf16 units; tokens "
           "may differ slightly from fp32), the decoder in fp32; int8: the decoder's per-token layers in int8 "
           "(CPU only, about twice as fast there; near ties between tokens can go the other way, so maps differ "
           "from fp32's).",
           choices=PRECISIONS),
]
BY_NAME = {option.name: option for option in OPTIONS}
AUDIO_HELP = "The song (mp3, ogg, wav, flac); with --beatmap, the reference's own audio if left out."


def command(run: Callable[..., None]) -> Callable[..., None]:
    """`run(audio, **options)` as a typer command whose parameters are the table's."""
    flags = lambda option: (option.flags,) if isinstance(option.flags, str) else option.flags  # noqa: E731
    parameters = [inspect.Parameter("audio", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Path | None,
                                    default=typer.Argument(None, help=AUDIO_HELP, show_default=False))]
    parameters += [inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, annotation=option.type,
                                     default=typer.Option(option.default, *flags(option), help=option.help,
                                                          rich_help_panel=option.panel,
                                                          show_default=option.show_default))
                   for option in OPTIONS]

    def generate(**values) -> None:
        run(**values)

    generate.__doc__ = run.__doc__
    generate.__signature__ = inspect.Signature(parameters, return_annotation=None)
    generate.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return generate


def request_fields(values: dict) -> dict:
    """The request fields the options fill as given."""
    return {(option.name if option.field == SAME else option.field): values[option.name]
            for option in OPTIONS if option.field is not None}


def answer_check(name: str, *, integer: bool = False) -> Callable[[str], bool | str]:
    """A wizard validator for the option `name`: blank passes (the option is left out), anything
    else must parse and pass the option's own check, with the command's message."""
    option = BY_NAME[name]

    def check(text: str) -> bool | str:
        if not text.strip():
            return True
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            return "a whole number is needed" if integer else "a number is needed"
        return option.problem(value) or True

    return check
