"""Tokenizer settings: every flag that changes how a model version turns beatmaps into events.

Field names are those of the original's data settings, as recorded in our fixtures, so that a
profile's `tokenizer:` section reads the same as the original's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TokenizerSettings:
    types_first: bool = True  # type token opens each group (v29/v31) or closes it (v30/v32)
    add_timing: bool = False  # timing ticks interleaved in the map context (v30)
    add_snapping: bool = True  # a snap-divisor token after each object time
    add_timing_points: bool = True  # the first tick of a red line is TIMING_POINT (else MEASURE)
    add_hitsounds: bool = True  # HITSOUND/VOLUME pairs
    add_distances: bool = True  # DISTANCE from the previous position
    add_positions: bool = True  # POS (joint cell) or POS_X/POS_Y (split axes)
    position_precision: int = 32  # px per position step
    position_split_axes: bool = False
    position_range: tuple[int, int, int, int] = (-256, 768, -256, 640)  # x min, x max, y min, y max (px)
    position_refinement: int | None = None  # px per POS_REFINE step inside a cell (v32: 2)
    add_kiai: bool = False  # kiai toggles interleaved in the map context
    add_sv: bool = True  # SCROLL_SPEED on slider heads (std/catch)
    add_mania_sv: bool = False  # mania scroll-speed changes interleaved in the map context
    mania_bpm_normalized_scroll_speed: bool = True  # mania SV context relative to the median tempo
    slider_version: int = 1  # 1: anchors timed along the first span; 2: untimed anchors, positionless span end
    sustain_interval: int | None = None  # ms between sustain tokens of long objects (v32: 8000)
    max_slider_control_points: int = 100  # sliders with more control points are left out
    # prompt (input-only) token kinds a newly built vocabulary gets
    add_gamemode_token: bool = True
    add_difficulty_token: bool = True
    add_mapper_token: bool = True
    add_cs_token: bool = True
    add_year_token: bool = True
    add_hitsounded_token: bool = True
    add_song_length_token: bool = True
    add_song_position_token: bool = True
    add_descriptors: bool = True
    add_mania_prompt_tokens: bool = True  # key count and hold-note ratio
    add_scroll_speed_ratio_token: bool = True
    add_global_sv_token: bool = True
    add_out_context_types: bool = True  # out-contexts get start/end tokens
    num_diff_classes: int = 24
    max_difficulty: float = 12.0
    num_cs_classes: int = 21
    # audio window the events are cut to
    src_seq_len: int = 1024  # spectrogram frames per window
    hop_length: int = 128  # samples per frame
    sample_rate: int = 16000  # Hz
    ms_per_time_step: int = 10
    gamemodes: tuple[int, ...] = field(default=(0, 1, 2, 3))

    @property
    def window_ms(self) -> float:
        return (self.src_seq_len - 1) * self.hop_length * 1000 / self.sample_rate

    @property
    def max_time_steps(self) -> int:
        return int(self.window_ms / self.ms_per_time_step)

    @classmethod
    def from_dict(cls, values: dict) -> TokenizerSettings:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(values) - known)
        if unknown:
            from tokenization.errors import MapperInputError

            raise MapperInputError(f"unknown tokenizer setting(s): {', '.join(unknown)}")
        data = dict(values)
        for key in ("position_range", "gamemodes"):
            if key in data and data[key] is not None:
                data[key] = tuple(data[key])
        return cls(**data)
