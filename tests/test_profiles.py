"""Profiles load, validate with errors that name the key, and agree with the original's checkpoints."""

from __future__ import annotations

import json

import pytest

from profiles import list_profiles, load_profile, profile_from_dict
from tests.conftest import require_shared
from tokenization.errors import MapperInputError
from tokenization.vocabulary import Vocabulary, build_vocabulary


def test_every_shipped_profile_loads():
    names = list_profiles()
    assert {"v29", "v30", "v31", "v32", "tiny"} <= set(names)
    for name in names:
        profile = load_profile(name)
        assert profile.name == name and profile.tokenizer.src_seq_len == profile.model.src_seq_len


@pytest.mark.parametrize("data,message", [
    ({"inference": {"top_p": 1.5}}, "inference.top_p: must be in (0, 1]"),
    ({"inference": {"bogus": 1}}, "unknown setting inference.bogus"),
    ({"model": {"d_model": "big"}}, "model.d_model: must be an integer"),
    ({"tokenizer": {"types_frist": True}}, "unknown setting tokenizer.types_frist"),
    ({"audio": {"implementation": "librosa"}}, "audio.implementation: must be nnAudio or torchaudio"),
    ({"inference": {"output_type": ["maps"]}}, "inference.output_type: unknown context 'maps'"),
    ({"tokenizer": {"src_seq_len": 10}}, "tokenizer.src_seq_len: set it in model/audio"),
])
def test_bad_settings_name_the_key(data, message):
    with pytest.raises(MapperInputError) as error:
        profile_from_dict({"name": "x", **data}, source="x.yaml")
    assert message in str(error.value)


def test_overrides_are_validated():
    profile = load_profile("v29").with_overrides({"inference.top_p": 0.5, "inference": {"temperature": 1.2}})
    assert profile.inference.top_p == 0.5 and profile.inference.temperature == 1.2
    with pytest.raises(MapperInputError, match="unknown setting inference.nope"):
        load_profile("v29").with_overrides({"inference.nope": 1})


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(MapperInputError, match="available: .*v29"):
        load_profile("v99")


@pytest.mark.parametrize("version", ["v29", "v30", "v31", "v32"])
def test_profile_agrees_with_the_checkpoint(version):
    folder = require_shared("fixtures", f"ref-{version}-tiny")
    config = json.loads((folder / "config.json").read_text())
    profile = load_profile(version)
    assert profile.audio.n_mels == config["n_mels"] and profile.audio.hop_length == config["hop_length"]
    assert profile.audio.f_min == config["f_min"] and profile.audio.f_max == config["f_max"]
    assert profile.audio.pad_mode == config["pad_mode"]
    assert profile.audio.implementation == config["spectrogram_implementation"]
    assert profile.audio.log_scale == config["spectrogram_log_scale"]
    assert profile.model.src_seq_len == 2 * config["max_source_positions"]
    assert profile.model.rhythm_weight == config["rhythm_weight"]
    generation = json.loads((folder / "generation_config.json").read_text())
    assert profile.model.tgt_seq_len == generation["max_length"]
    # a vocabulary built from the profile has the checkpoint's layout
    fixture = Vocabulary.load(folder)
    built = build_vocabulary(profile.tokenizer, [(t.inputs, t.outputs) for t in profile.templates],
                             num_mapper_classes=fixture.num_mapper_classes,
                             num_descriptor_classes=fixture.num_descriptor_classes)
    assert built.offset == fixture.offset and built.context_sos == fixture.context_sos
    assert built.output_ranges == fixture.output_ranges and built.input_ranges == fixture.input_ranges
