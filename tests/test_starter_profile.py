"""The starter profile (v2) trains the job generation gives the starter: the timing is given (heard in the
audio, or from --bpm/--beatmap) as the finished timing context, and the model writes kiai, the map and SV
after it. These tests check the profile and the training examples it makes, not the trained weights."""

from __future__ import annotations

import random

import pytest

from training.click_songs import song_folder

IGNORE = -100  # the label of a token that is context, not a target (training.examples)


@pytest.fixture(scope="module")
def starter_maker(tmp_path_factory):
    """(example maker for the starter profile without augmentation, its records, vocabulary, profile)."""
    from profiles import load_profile
    from training.audio_cache import CACHE_DIR_NAME, AudioCache
    from training.dataset_build import build_dataset
    from training.examples import ExampleMaker, read_records
    from training.runs import new_vocabulary

    root = tmp_path_factory.mktemp("starter")
    song_folder(root / "songs", seconds=6.0)
    build_dataset([root / "songs"], root / "ds")
    profile = load_profile("starter")
    records = read_records(root / "ds")
    vocab = new_vocabulary(profile, records)
    audio = AudioCache(root / "ds" / CACHE_DIR_NAME, profile.audio.sample_rate)
    return ExampleMaker(profile, vocab, train=False, audio=audio), records, vocab, profile


def test_nearly_every_starter_example_is_given_the_timing():
    from profiles import load_profile

    profile = load_profile("starter")
    total = sum(t.weight for t in profile.templates)
    given = sum(t.weight for t in profile.templates if "timing" in t.given and "map" in t.outputs)
    assert given / total >= 0.8
    # generation gives the heard timing as the finished timing pass, before kiai and the map: the profile's
    # passes put timing first, and its inputs are the plain ones every template trains
    assert list(profile.inference.output_type)[0] == "timing" and list(profile.inference.in_context) == ["none"]
    assert all(list(t.inputs) == ["none"] for t in profile.templates)
    assert profile.inference.version_name == "mapper starter v2"


def test_a_given_context_must_be_an_output(tmp_path):
    from profiles import load_profile
    from tokenization.errors import MapperInputError

    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ntemplates:\n  - {inputs: [none], outputs: [map], given: [timing]}\n")
    with pytest.raises(MapperInputError, match="given context 'timing' is not one of its outputs"):
        load_profile(str(path))


def test_the_map_learns_after_its_own_red_lines_as_generation_gives_them(starter_maker):
    """In a given-timing example the map's own red lines sit where generation puts the heard timing, with no
    loss; the map after them is learned. The tokens from the timing block to the map's start are exactly the
    map pass's prompt when generation is given that timing."""
    from models.generation.generator import GenerationSettings, Generator
    from tokenization import read_beatmap
    from tokenization.beatmap_to_events import BeatmapEncoder
    from tokenization.events import ContextType
    from tokenization.prompt import Conditioning

    maker, records, vocab, profile = starter_maker
    record = records[0]
    timing_sos, timing_eos = vocab.context_sos[ContextType.TIMING], vocab.context_eos[ContextType.TIMING]
    map_sos = vocab.context_sos[ContextType.MAP]
    given_examples = learned_examples = 0
    for seed in range(24):
        example = next(maker.examples(record, random.Random(seed)))  # the first window, starting at 0 ms
        inputs, labels = list(example.input_ids), list(example.labels)
        first, last = inputs.index(timing_sos), inputs.index(timing_eos)
        assert last - first > 1, "the click track's red line is in the timing block"
        timing_labels = labels[first - 1:last]  # label i is the target of input i + 1
        if all(label == IGNORE for label in timing_labels):
            given_examples += 1
        else:
            learned_examples += 1
            continue
        start = inputs.index(map_sos)
        assert any(label != IGNORE for label in labels[start:]), "the map is learned"
        segment = inputs[first:start + 1]
    assert given_examples >= 16 and learned_examples >= 1  # 7 in 8 by the profile's weights

    beatmap = read_beatmap(record.beatmap_path)
    song_ms = 6000.0
    timing = BeatmapEncoder(beatmap, profile.tokenizer).timing_events(song_ms)  # as give_timing makes it
    generator = Generator(None, vocab, profile, GenerationSettings())
    streams = {ContextType.TIMING: generator.stream(timing), ContextType.KIAI: generator.stream([]),
               ContextType.MAP: generator.stream([])}
    prompt, _ = generator.prompts(0.0, ContextType.MAP, streams, Conditioning(gamemode=0, song_length_ms=song_ms),
                                  generator.given_streams(None))
    assert prompt[prompt.index(timing_sos):] == segment
