"""MapperatorinatorConfig: the published `config.json`, as a transformers configuration.

The backbone's settings live in the nested `backbone_config` (a Whisper configuration); the
top level holds the audio front end, the input vocabulary size and the conditioning switches.
Nothing is fetched from the hub to build it.
"""

from __future__ import annotations

from transformers import PretrainedConfig, WhisperConfig

UNKNOWN_STARS = 5.0  # the star rating a difficulty-embedding model hears when none is asked for


class MapperatorinatorConfig(PretrainedConfig):
    model_type = "mapperatorinator"

    def __init__(self, backbone_config: dict | None = None, backbone_model_name: str = "openai/whisper-small",
                 vocab_size: int = 3667, vocab_size_in: int = 4652, n_mels: int = 388, n_fft: int = 1024,
                 hop_length: int = 128, sample_rate: int = 16000, f_min: float = 0.0, f_max: float = 8000.0,
                 pad_mode: str = "constant", spectrogram_implementation: str = "nnAudio",
                 spectrogram_log_scale: bool = False, project_encoder_input: bool = True,
                 embed_decoder_input: bool = True, do_difficulty_embed: bool = False, do_mapper_embed: bool = False,
                 do_song_position_embed: bool = False, do_style_embed: bool = False, cond_dim: int = 128,
                 cond_size: int = 0, num_mappers: int = 0, rhythm_weight: float = 3.0, rhythm_token_start: int = 17,
                 rhythm_token_end: int = 836, label_smoothing: float = 0.0, mapper_profile: str | None = None,
                 **kwargs):
        self.backbone_config = dict(backbone_config or {})
        self.backbone_model_name = backbone_model_name
        self.vocab_size = vocab_size
        self.vocab_size_in = vocab_size_in
        self.n_mels = n_mels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.sample_rate = sample_rate
        self.f_min = f_min
        self.f_max = f_max
        self.pad_mode = pad_mode
        self.spectrogram_implementation = spectrogram_implementation
        self.spectrogram_log_scale = spectrogram_log_scale
        self.project_encoder_input = project_encoder_input
        self.embed_decoder_input = embed_decoder_input
        self.do_difficulty_embed = do_difficulty_embed
        self.do_mapper_embed = do_mapper_embed
        self.do_song_position_embed = do_song_position_embed
        self.do_style_embed = do_style_embed
        self.cond_dim = cond_dim
        self.cond_size = cond_size
        self.num_mappers = num_mappers
        self.rhythm_weight = rhythm_weight
        self.rhythm_token_start = rhythm_token_start
        self.rhythm_token_end = rhythm_token_end
        self.label_smoothing = label_smoothing
        self.mapper_profile = mapper_profile
        kwargs.setdefault("is_encoder_decoder", True)
        super().__init__(**kwargs)

    @property
    def backbone_family(self) -> str:
        """whisper (v29), rope_whisper (v30/v31) or varwhisper (v32), from the backbone settings."""
        extra = self.backbone_config
        if "global_attn_every_n_layers" in extra or "local_attention" in extra:
            return "varwhisper"
        if "rope_type" in extra or "rope_encoder_scaling_factor" in extra:
            return "rope_whisper"
        return "whisper"

    def whisper_config(self) -> WhisperConfig:
        values = {k: v for k, v in self.backbone_config.items() if not k.startswith("_")}
        values.pop("architectures", None)
        values.pop("transformers_version", None)
        config = WhisperConfig(**values)
        for key in ("global_attn_every_n_layers", "local_attention"):  # VarWhisper extras
            if key in values:
                setattr(config, key, values[key])
        return config
