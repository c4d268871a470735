"""New models from a profile: the config a checkpoint of that profile would carry."""

from __future__ import annotations

from models.configuration_mapperatorinator import MapperatorinatorConfig
from profiles.settings import Profile
from tokenization.events import EventType
from tokenization.vocabulary import Vocabulary


def build_config(profile: Profile, vocab: Vocabulary) -> MapperatorinatorConfig:
    m, a = profile.model, profile.audio
    if m.family != "whisper":
        raise NotImplementedError(f"building {m.family} models is not supported yet")
    backbone = {
        "model_type": "whisper", "d_model": m.d_model, "encoder_layers": m.encoder_layers,
        "decoder_layers": m.decoder_layers, "encoder_attention_heads": m.attention_heads,
        "decoder_attention_heads": m.attention_heads, "encoder_ffn_dim": m.ffn_dim, "decoder_ffn_dim": m.ffn_dim,
        "num_mel_bins": m.d_model if m.project_encoder_input else a.n_mels, "max_source_positions": m.src_seq_len // 2,
        "max_target_positions": m.tgt_seq_len, "vocab_size": vocab.vocab_size_out, "dropout": m.dropout,
        "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 1,
        "tie_word_embeddings": False, "use_cache": True, "scale_embedding": False, "activation_function": "gelu",
    }
    shifts = vocab.type_ids(EventType.TIME_SHIFT)
    return MapperatorinatorConfig(
        backbone_config=backbone, vocab_size=vocab.vocab_size_out, vocab_size_in=vocab.vocab_size_in,
        n_mels=a.n_mels, n_fft=a.n_fft, hop_length=a.hop_length, sample_rate=a.sample_rate, f_min=a.f_min,
        f_max=a.f_max, pad_mode=a.pad_mode, spectrogram_implementation=a.implementation,
        spectrogram_log_scale=a.log_scale, project_encoder_input=m.project_encoder_input,
        rhythm_weight=m.rhythm_weight, rhythm_token_start=shifts.start, rhythm_token_end=shifts.stop,
        label_smoothing=m.label_smoothing, num_mappers=vocab.num_mapper_classes, mapper_profile=profile.name,
        max_source_positions=m.src_seq_len // 2, max_target_positions=m.tgt_seq_len,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)
