"""Issue #25, class 2 (and the adapter message of class 8): a hostile or broken model folder gives
one line naming the file and what is wrong with it, exit status 2, no traceback and never
`internal error`; nothing is read from a device or a FIFO, and nothing is allocated from absurd
sizes. Every case runs through the CLI's entry point, all in one child process under a memory
limit (tests/cli_cases.py), so that the old behaviour (reading /dev/zero, blocking on a FIFO,
allocating what a config asks for) fails the test instead of the machine."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import struct

import pytest

from tests.cli_cases import Case, run_cases
from tests.synthetic import click_track


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, random_tiny_model):
    """A tiny model folder, a short song and a LoRA adapter made for the model (rank 4)."""
    from peft import LoraConfig, get_peft_model

    from training.checkpoint import save_published

    model, vocab, _ = random_tiny_model
    root = tmp_path_factory.mktemp("folders")
    save_published(model, vocab, root / "model")
    click_track(root / "song.wav", seconds=2.0)
    import copy

    adapted = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    adapted.save_pretrained(str(root / "adapter"), safe_serialization=True)
    from diffusion.model import DiffusionConfig, DiT, save_model

    save_model(DiT(DiffusionConfig(hidden_size=32, depth=2, num_heads=2)), root / "diffusion")
    return root


def _config(folder, edit) -> None:
    path = folder / "config.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _weights_header(header: dict) -> bytes:
    """A safetensors file of this header alone (no tensor data after it)."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def _wrong_shape(folder) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    name = "transformer.model.decoder.layers.1.fc1.weight"
    state[name] = state[name][:100].contiguous()  # 128 x 64 in the config
    save_file(state, str(folder / "model.safetensors"))


def _fifo(path) -> None:
    path.unlink()
    os.mkfifo(path)


def _link(path, target) -> None:
    path.unlink()
    path.symlink_to(target)


# name: (change to the model folder, text the one line must hold)
MODEL_CASES = {
    "config-not-json": (lambda f: (f / "config.json").write_text("{not json"), "config.json: not valid JSON"),
    "config-a-list": (lambda f: (f / "config.json").write_text("[1, 2]"), "config.json: holds a list, not an object"),
    "config-nan": (lambda f: (f / "config.json").write_text(
        (f / "config.json").read_text().replace('"d_model": 64', '"d_model": NaN')), "NaN is not a number JSON allows"),
    "config-negative": (lambda f: _config(f, lambda c: c["backbone_config"].update(d_model=-64)),
                        "backbone_config.d_model is -64, below 1"),
    "config-d-model-1e9": (lambda f: _config(f, lambda c: c["backbone_config"].update(d_model=10**9)),
                           "backbone_config.d_model is 1000000000, above 16384"),
    "config-vocab-1e12": (lambda f: _config(f, lambda c: c.update(vocab_size=10**12)),
                          "vocab_size is 1000000000000, above 1000000"),
    "config-layers-1e7": (lambda f: _config(f, lambda c: c["backbone_config"].update(decoder_layers=10**7)),
                          "backbone_config.decoder_layers is 10000000, above 256"),
    "config-dev-zero": (lambda f: _link(f / "config.json", "/dev/zero"), "config.json: is a character device"),
    "config-fifo": (lambda f: _fifo(f / "config.json"), "config.json: is a FIFO"),
    "weights-truncated": (lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:5000]),
                          "model.safetensors: not a readable safetensors file"),
    "weights-empty": (lambda f: (f / "model.safetensors").write_bytes(b""), "model.safetensors: empty"),
    "weights-header-100gb": (lambda f: (f / "model.safetensors").write_bytes(struct.pack("<Q", 100 * 10**9) + b"{}"),
                             "model.safetensors: not a readable safetensors file"),
    "weights-tensor-100gb": (lambda f: (f / "model.safetensors").write_bytes(_weights_header(
        {"x": {"dtype": "F32", "shape": [25 * 10**9], "data_offsets": [0, 10**11]}})),
        "model.safetensors: not a readable safetensors file"),
    "weights-wrong-shape": (_wrong_shape, "model.safetensors: tensor transformer.model.decoder.layers.1.fc1.weight "
                                          "has shape [100, 64], but the config asks for [128, 64]"),
    "tokenizer-random-bytes": (lambda f: (f / "tokenizer.json").write_bytes(bytes(range(256)) * 40),
                               "tokenizer.json: not UTF-8 text"),
    "tokenizer-huge-range": (lambda f: (f / "tokenizer.json").write_text(json.dumps(
        {"event_ranges": [{"type": "t", "min_value": 0, "max_value": 10**12}]})), "tokenizer.json: not a valid tokenizer"),
}


def _adapter_list(adapter) -> None:
    (adapter / "adapter_config.json").write_text("[]")


def _adapter_rank(adapter) -> None:  # the config says rank 8, the weights hold rank 4
    path = adapter / "adapter_config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"r": 8}))


ADAPTER_CASES = {
    "adapter-config-a-list": (_adapter_list, "adapter_config.json: holds a list, not an object"),
    "adapter-rank-1e9": (lambda a: (a / "adapter_config.json").write_text(json.dumps(
        json.loads((a / "adapter_config.json").read_text()) | {"r": 10**9})), "adapter_config.json: r is 1000000000"),
    "adapter-weights-truncated": (lambda a: (a / "adapter_model.safetensors").write_bytes(b"\x10\x00"),
                                  "adapter_model.safetensors: not a readable safetensors file"),
    "adapter-wrong-rank": (_adapter_rank, "has shape [4, 64] in the adapter, the model needs [8, 64]"),
}


def _diffusion_shape(folder) -> None:
    _config(folder, lambda c: c.update(depth=1))  # the weights hold two blocks


# --diffusion-model folders: checked before the decoding, not after it
DIFFUSION_CASES = {
    "diffusion-width-1e9": (lambda f: _config(f, lambda c: c.update(hidden_size=10**9)),
                            "config.json: hidden_size is 1000000000, above 16384"),
    "diffusion-config-fifo": (lambda f: _fifo(f / "config.json"), "config.json: is a FIFO"),
    "diffusion-blocks": (_diffusion_shape, "model.safetensors: tensor blocks.1."),
    "diffusion-refine-json": (lambda f: (f / "refine.json").write_text('{"steps": 1e12}'),
                              "refine.json: steps is 1000000000000, above 10000"),
}


class _RunsCode:  # a pickle that would run code when loaded
    def __reduce__(self):
        return (os.system, ("echo ran",))


# `mapper convert` on the published diffusion folder's pickles: (pickle bytes, text of the one line)
CONVERT_CASES = {
    # protocol 4 is not torch's own: torch warned about it before the refusal line
    "convert-pickle-that-runs-code": (lambda: pickle.dumps({"weights": _RunsCode()}, protocol=4),
                                      "refused: this pickle holds more than weights"),
    "convert-text-named-pkl": (lambda: b"hello, not a pickle", "model_ema.pkl: not a torch checkpoint"),
}


@pytest.fixture(scope="module")
def results(tiny, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    cases = []
    for name, (change, _) in MODEL_CASES.items():
        folder = root / name
        shutil.copytree(tiny / "model", folder)
        change(folder)
        cases.append(Case(name, ["generate", str(tiny / "song.wav"), "--model", str(folder), "--quiet",
                                 "--out", str(root / "out" / name)]))
    for name, (change, _) in ADAPTER_CASES.items():
        adapter = root / name
        shutil.copytree(tiny / "adapter", adapter)
        change(adapter)
        cases.append(Case(name, ["generate", str(tiny / "song.wav"), "--model", str(tiny / "model"), "--lora",
                                 str(adapter), "--quiet", "--out", str(root / "out" / name)]))
    for name, (change, _) in DIFFUSION_CASES.items():
        folder = root / name
        shutil.copytree(tiny / "diffusion", folder)
        change(folder)
        cases.append(Case(name, ["generate", str(tiny / "song.wav"), "--model", str(tiny / "model"), "--refine",
                                 "--diffusion-model", str(folder), "--quiet", "--out", str(root / "out" / name)]))
    for name, (payload, _) in CONVERT_CASES.items():
        (root / name).mkdir()
        (root / name / "model_ema.pkl").write_bytes(payload())
        cases.append(Case(name, ["convert", str(root / name), "--out", str(root / "out" / name)]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")} | {"HF_HUB_OFFLINE": "1"}
    return run_cases(cases, env=env, timeout_s=240)


ALL_CASES = {**MODEL_CASES, **ADAPTER_CASES, **DIFFUSION_CASES, **CONVERT_CASES}


@pytest.mark.parametrize("name", ALL_CASES)
def test_a_broken_model_folder_is_one_line_naming_the_file(results, name):
    expected = ALL_CASES[name][1]
    result = results[name]
    lines = result.error_lines()
    assert result.code == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith("mapper: error: ") and "internal error" not in lines[0], lines[0]
    assert expected in lines[0], lines[0]
    assert len(lines[0]) < 400, lines[0]


def test_shapes_in_messages_are_never_cut_inside_a_number(results):
    for name in ("weights-wrong-shape", "adapter-wrong-rank"):
        line = results[name].error_lines()[0]
        for shape in re.findall(r"\[[^\]]*\]?", line):
            assert re.fullmatch(r"\[\d+(, \d+)*\]", shape), (shape, line)

