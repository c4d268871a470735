"""The model-folder half of `bench/fuzz.py --models`: model folders and LoRA adapters mutated as a
hostile or careless user would leave them, run through what `mapper generate --model F --lora A`
does with a folder (locate it, read its tokenizer and profile, check and load the weights, merge the
adapter) and one encoder pass plus a few decoder steps of the loaded model.

Seeds: the tiny architecture with random weights and a rank-4 adapter for it, made here, plus the
four published-layout fixtures (../shared/fixtures/ref-v29..v32-tiny) when present. Mutations:
- config.json, tokenizer.json, adapter_config.json: a value anywhere in the JSON set to an extreme
  (10^12, -1, NaN, a string, a list, null...), a key deleted, the whole replaced by a list or a
  number, bytes flipped or cut;
- model.safetensors, adapter_model.safetensors: a tensor's shape, dtype or data offsets changed in
  the header, the header's length field set to an extreme, the file cut or extended;
- any file replaced by a link to /dev/zero, a FIFO, a folder, a link loop, or nothing.

A case passes when it completes, or stops with an error the CLI reports as one line (a user error:
mapper's MapperInputError, a missing file...) whose message is at most 400 characters and names
the file or folder at fault. A case's files travel to the worker as {name: bytes | (special,)}.
"""

from __future__ import annotations

import copy
import json
import os
import random
import struct
from pathlib import Path

from tokenization.errors import MapperInputError

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")
ADAPTER_DIR = "adapter"  # a case's adapter files are "adapter/adapter_config.json" and so on
MAX_MESSAGE_CHARS = 400
JSON_EXTREMES = [0, -1, 1, 2**31, 10**9, 10**12, 10**30, -(10**12), 1.5, 1e308, float("nan"), float("inf"), "",
                 "x" * 1000, "64", None, True, [], {}, [1, 2], {"a": 1}]
SPECIALS = [("link", "/dev/zero"), ("fifo",), ("dir",), ("loop",), ("missing",), ("link", "/dev/urandom")]


def make_seeds(workdir: Path) -> list[dict[str, bytes]]:
    """Each seed a complete folder as {relative name: bytes}: the tiny model with its adapter, and
    the published-layout fixtures without one."""
    import torch
    from peft import LoraConfig, get_peft_model

    from models.factory import build_config
    from models.modeling_mapperatorinator import Mapperatorinator
    from profiles import load_profile
    from tokenization.vocabulary import build_vocabulary
    from training.checkpoint import save_published

    profile = load_profile("tiny")
    vocab = build_vocabulary(profile.tokenizer, [(list(t.inputs), list(t.outputs)) for t in profile.templates])
    torch.manual_seed(0)
    model = Mapperatorinator(build_config(profile, vocab)).eval()
    save_published(model, vocab, workdir / "tiny")
    adapted = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    adapted.save_pretrained(str(workdir / "tiny" / ADAPTER_DIR), safe_serialization=True)
    folders = [workdir / "tiny"] + sorted(FIXTURES.glob("ref-v*-tiny"))
    seeds = []
    for folder in folders:
        seeds.append({str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*"))
                      if path.is_file() and (path.name in MODEL_FILES or path.parent.name == ADAPTER_DIR)})
    return seeds


# ----------------------------------------------------------------------------------------------- mutations

def _json_paths(value, path=()) -> list[tuple]:
    """Every place in a JSON value (a key of an object, an index of a list), shallow ones first."""
    found = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value[:50]))  # tokenizer tables hold thousands of entries
    else:
        return found
    for key, child in items:
        found.append(path + (key,))
        found.extend(_json_paths(child, path + (key,)))
    return found


def _set(value, path, new):
    for key in path[:-1]:
        value = value[key]
    if new is _DELETE:
        del value[path[-1]]
    else:
        value[path[-1]] = new


_DELETE = object()


def _mutate_json(rng: random.Random, data: bytes) -> bytes:
    try:
        value = json.loads(data)
    except ValueError:
        return _mutate_bytes(rng, data)
    choice = rng.random()
    if choice < 0.06:
        return json.dumps(rng.choice([[value] if not isinstance(value, list) else value, 42, "text", None])).encode()
    paths = _json_paths(value)
    if not paths:
        return _mutate_bytes(rng, data)
    for _ in range(rng.choice([1, 1, 2, 3])):
        paths = _json_paths(value)
        if not paths:
            break
        # sizes and counts are where the trouble is: prefer keys that hold numbers
        numeric = [p for p in paths if isinstance(_get(value, p), (int, float)) and not isinstance(_get(value, p), bool)]
        path = rng.choice(numeric if numeric and rng.random() < 0.7 else paths)
        new = _DELETE if rng.random() < 0.1 else rng.choice(JSON_EXTREMES)
        if new is not _DELETE and isinstance(_get(value, path), int) and rng.random() < 0.3:
            new = _get(value, path) * rng.choice([-1, 2, 1000, 10**9])
        _set(value, path, new if new is _DELETE else copy.deepcopy(new))
    text = json.dumps(value)  # NaN and Infinity are written as Python writes them, as a careless tool would
    return text.encode() if rng.random() < 0.9 else _mutate_bytes(rng, text.encode())


def _get(value, path):
    for key in path:
        value = value[key]
    return value


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    kind = rng.random()
    if kind < 0.3 and out:
        return bytes(out[:rng.randrange(len(out))])
    if kind < 0.4:
        return bytes(out) + bytes(rng.randrange(256) for _ in range(rng.choice([1, 100, 4096])))
    if kind < 0.5:
        return bytes(rng.randrange(256) for _ in range(rng.choice([0, 8, 100, 5000])))
    for _ in range(rng.choice([1, 4, 32])):
        if out:
            out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def _mutate_safetensors(rng: random.Random, data: bytes) -> bytes:
    if len(data) < 8 or rng.random() < 0.15:
        return _mutate_bytes(rng, data)
    length = struct.unpack("<Q", data[:8])[0]
    try:
        header = json.loads(data[8:8 + length])
    except ValueError:
        return _mutate_bytes(rng, data)
    body = data[8 + length:]
    names = [name for name in header if name != "__metadata__"]
    if rng.random() < 0.15:  # the length field alone
        value = rng.choice([0, 1, 7, length - 1, length + 1, 2**31, 100 * 10**9, 2**64 - 1])
        return struct.pack("<Q", value) + data[8:]
    for _ in range(rng.choice([1, 1, 2])):
        if not names:
            break
        entry = header[rng.choice(names)]
        field = rng.choice(["shape", "shape", "dtype", "data_offsets", "delete", "add"])
        if field == "shape":
            shape = list(entry.get("shape", []))
            how = rng.random()
            if shape and how < 0.4:
                index = rng.randrange(len(shape))
                shape[index] = rng.choice([0, 1, shape[index] + 1, shape[index] * 2, 10**9, 2**40])
            elif how < 0.6:
                shape = shape[::-1]
            elif how < 0.8:
                shape = shape + [1]
            else:
                shape = rng.choice([[], [-1], ["a"], None, [2**63]])
            entry["shape"] = shape
        elif field == "dtype":
            entry["dtype"] = rng.choice(["F16", "BF16", "F64", "I64", "U8", "BOOL", "XX", 5, None])
        elif field == "data_offsets":
            begin, end = entry.get("data_offsets", [0, 0])
            entry["data_offsets"] = rng.choice([[end, begin], [begin, end + 4], [0, 10**11], [begin, begin], [-1, end],
                                                [begin, 2**64]])
        elif field == "delete":
            header.pop(rng.choice(names))
            names = [name for name in header if name != "__metadata__"]
        else:
            header[f"extra.{rng.randrange(100)}"] = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def mutate_folder(rng: random.Random, seed: dict[str, bytes]) -> tuple[dict, list[str]]:
    """A mutated copy of `seed` and the names of what was done to it."""
    files: dict = dict(seed)
    done = []
    for _ in range(rng.choice([1, 1, 1, 2])):
        name = rng.choice(sorted(files))
        if rng.random() < 0.08:
            files[name] = rng.choice(SPECIALS)
            done.append(f"{name}:{files[name][0]}")
        elif not isinstance(files[name], bytes):
            continue
        elif name.endswith(".safetensors"):
            files[name] = _mutate_safetensors(rng, files[name])
            done.append(f"{name}:header")
        elif name.endswith(".json"):
            files[name] = _mutate_json(rng, files[name])
            done.append(f"{name}:json")
    return files, done


# ----------------------------------------------------------------------------------------------- one case

def write_folder(folder: Path, files: dict) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content[0] == "link":
            path.symlink_to(content[1])
        elif content[0] == "fifo":
            os.mkfifo(path)
        elif content[0] == "dir":
            path.mkdir()
        elif content[0] == "loop":
            path.symlink_to(path.name)
        # "missing": nothing at all


def run_model_folder(files: dict) -> None:
    """What `generate --model FOLDER [--lora FOLDER/adapter]` does with the folder, then a forward
    pass; a user error is re-raised as MapperInputError after its message is checked."""
    import tempfile

    from mapperator_cli.errors import is_user_error, one_line

    with tempfile.TemporaryDirectory(prefix="fuzz-model-") as work:
        folder = Path(work) / "model"
        folder.mkdir()
        write_folder(folder, files)
        try:
            _load_and_run(folder, any(name.startswith(ADAPTER_DIR + "/") for name in files))
        except Exception as exc:  # noqa: BLE001 - sorted below
            if not is_user_error(exc):
                raise
            message = one_line(exc)
            if len(message) > MAX_MESSAGE_CHARS:
                raise BadMessage(f"over {MAX_MESSAGE_CHARS} characters", message) from None
            if work not in message:
                raise BadMessage("names no file of the folder", message) from None
            raise MapperInputError(message) from None


class BadMessage(Exception):
    """A refusal the user cannot act on: too long for one line, or not naming what is at fault."""

    def __init__(self, reason: str, message: str):
        super().__init__(reason)
        self.message = message  # the refusal itself, for whoever reproduces the case


def _load_and_run(folder: Path, with_adapter: bool) -> None:
    import torch

    from models.loading import apply_lora, load_model, resolve_checkpoint
    from profiles.detect import detect_profile
    from tokenization.vocabulary import Vocabulary

    checkpoint = resolve_checkpoint(str(folder))
    vocab = Vocabulary.load(checkpoint)
    detect_profile(checkpoint, vocab)
    model = load_model(checkpoint)
    if with_adapter:
        model = apply_lora(model, folder / ADAPTER_DIR)
    config = model.config
    samples = (2 * config.backbone_config.get("max_source_positions", 512) - 1) * config.hop_length
    with torch.inference_mode():
        states = model.encode(torch.zeros(1, min(samples, 16000 * 30)))
        ids = torch.tensor([[1, vocab.vocab_size_in - 1, vocab.vocab_size_out - 1]])  # the largest ids it may see
        decoder = model.incremental_decoder(states, 8)
        if decoder is None:  # RoPE backbones decode through their own cache
            model.decode(ids, states)
            return
        decoder.prefill(ids, torch.ones_like(ids), torch.arange(3)[None])
        decoder.step(torch.tensor([[vocab.vocab_size_in - 1]]), torch.tensor([[3]]))
