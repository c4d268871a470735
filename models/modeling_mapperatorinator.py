"""The Mapperatorinator model: a Whisper encoder-decoder with its own audio and token embeddings.

Raw 16 kHz audio windows go through the model's own mel front end (`spectrogram`), a linear
projection to the model width (`encoder_embedder`) and the Whisper encoder; decoder tokens come
from an embedding over the full input vocabulary (`decoder_embedder`, which includes prompt-only
tokens), through the Whisper decoder, to logits over the output vocabulary. The module names equal
the published checkpoints' state-dict keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel, WhisperForConditionalGeneration

from models.audio.spectrogram import build_spectrogram
from models.configuration_mapperatorinator import UNKNOWN_STARS, MapperatorinatorConfig
from models.rope_whisper import (
    DifficultyEmbedder,
    MapperEmbedder,
    RopeWhisperForConditionalGeneration,
    SongPositionEmbedder,
)
from models.whisper_kv_decoder import WhisperKVDecoder


@dataclass
class MapperatorinatorOutput:
    logits: torch.Tensor  # [batch, tokens, vocab_out]
    encoder_last_hidden_state: torch.Tensor | None = None
    past_key_values: object | None = None
    loss: torch.Tensor | None = None


class Mapperatorinator(PreTrainedModel):
    config_class = MapperatorinatorConfig
    main_input_name = "frames"

    def __init__(self, config: MapperatorinatorConfig):
        super().__init__(config)
        if config.backbone_family not in ("whisper", "rope_whisper", "varwhisper"):
            raise NotImplementedError(f"the {config.backbone_family} backbone is not supported")
        whisper = config.whisper_config()
        self.spectrogram = build_spectrogram(config)
        d_model = whisper.d_model
        self.rope = config.backbone_family in ("rope_whisper", "varwhisper")
        cond = config.cond_dim
        if config.do_difficulty_embed:
            self.difficulty_embedder = DifficultyEmbedder(cond)
        if config.do_mapper_embed:
            self.mapper_embedder = MapperEmbedder(config.num_mappers, cond)
        if config.do_song_position_embed:
            self.song_pos_embedder = SongPositionEmbedder(cond)
        in_channels = (d_model if config.project_encoder_input else config.n_mels + config.cond_size)
        self.transformer = (RopeWhisperForConditionalGeneration(whisper, in_channels,
                                                                fused=config.backbone_family == "varwhisper")
                            if self.rope else WhisperForConditionalGeneration(whisper))
        self.encoder_embedder = nn.Linear(config.n_mels, d_model) if config.project_encoder_input else nn.Identity()
        self.decoder_embedder = nn.Embedding(config.vocab_size_in, d_model)
        weights = torch.ones(config.vocab_size)
        weights[config.rhythm_token_start:config.rhythm_token_end] = config.rhythm_weight
        self.loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=config.label_smoothing)
        # "amp" precision: the audio encoder (and the decoder's cross-attention keys/values, computed
        # once per window) run under bf16 autocast; the mel front end and the decoder stay fp32.
        self.encoder_autocast = False
        # On a CUDA device the lean decoder's per-token step is replayed as a CUDA graph
        # (models.static_kv_decoder): same kernels and tokens as eager, without a launch per kernel.
        self.cuda_graphs = True

    def encoder_precision(self, device_type: str):
        """The autocast context for the encoder side of the model (a no-op in fp32)."""
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=self.encoder_autocast)

    # -- the two halves, for incremental generation --------------------------------------------
    def encode(self, frames: torch.Tensor, difficulty=None, mapper_idx=None, song_position=None) -> torch.Tensor:
        """[batch, samples] audio -> encoder states [batch, positions, d_model]."""
        features = self.spectrogram(frames.float())  # [batch, frames, mels]
        extra = []
        batch = features.shape[0]
        if hasattr(self, "difficulty_embedder"):
            value = torch.full((batch,), UNKNOWN_STARS) if difficulty is None else torch.as_tensor(difficulty).reshape(batch)
            extra.append(self.difficulty_embedder(value.to(features.device)))
        if hasattr(self, "mapper_embedder"):
            value = torch.full((batch,), -1) if mapper_idx is None else torch.as_tensor(mapper_idx).reshape(batch)
            extra.append(self.mapper_embedder(value.to(features.device)))
        if hasattr(self, "song_pos_embedder"):
            value = torch.zeros(batch, 2) if song_position is None else torch.as_tensor(song_position).reshape(batch, 2)
            extra.append(self.song_pos_embedder(value.to(features.device)))
        if extra:  # conditioning vectors follow the mel channels, the same at every frame
            cond = torch.cat(extra, dim=-1)[:, None].expand(-1, features.shape[1], -1)
            features = torch.cat([features, cond], dim=-1)
        with self.encoder_precision(features.device.type):
            features = self.encoder_embedder(features).transpose(1, 2)
            if self.rope:
                states = self.transformer.model.encoder(features)
            else:
                states = self.transformer.model.encoder(input_features=features).last_hidden_state
        return states.float()

    def decode(self, decoder_input_ids: torch.Tensor, encoder_states: torch.Tensor, *, attention_mask=None,
               past_key_values=None, position_ids=None, use_cache: bool = True):
        """Logits [batch, tokens, vocab_out] for the new tokens, and the updated KV cache."""
        embeds = self.decoder_embedder(decoder_input_ids)
        if self.rope:
            hidden, past = self.transformer.model.decoder(embeds, encoder_states, attention_mask=attention_mask,
                                                          past=past_key_values, position_ids=position_ids)
            return self.transformer.proj_out(hidden), past
        out = self.transformer.model.decoder(inputs_embeds=embeds, encoder_hidden_states=encoder_states,
                                             attention_mask=attention_mask, past_key_values=past_key_values,
                                             position_ids=position_ids, use_cache=use_cache)
        return self.transformer.proj_out(out.last_hidden_state), out.past_key_values

    def incremental_decoder(self, encoder_states: torch.Tensor, capacity: int):
        """A prefill/step decoder with a preallocated cache of `capacity` tokens, or None where the
        generic `decode` path is the one to use (RoPE backbones keep their own cache)."""
        if self.rope:
            return None
        if encoder_states.device.type == "cuda" and self.cuda_graphs:
            from models.static_kv_decoder import StaticKVDecoder

            return StaticKVDecoder(self, encoder_states, capacity, graphed=True)
        return WhisperKVDecoder(self, encoder_states, capacity)

    def forward(self, frames: torch.Tensor, decoder_input_ids: torch.Tensor, labels: torch.Tensor | None = None,
                decoder_attention_mask=None, **conditioning) -> MapperatorinatorOutput:
        encoder_states = self.encode(frames, **{k: v for k, v in conditioning.items()
                                                if k in ("difficulty", "mapper_idx", "song_position")})
        logits, _ = self.decode(decoder_input_ids, encoder_states, attention_mask=decoder_attention_mask,
                                use_cache=False)
        loss = None
        if labels is not None:
            loss = self.loss_fn(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1))
        return MapperatorinatorOutput(logits=logits, encoder_last_hidden_state=encoder_states, loss=loss)
