"""Which model a command uses: --model (folder, hub id, short name v29-v32), else $MAPPER_MODEL, else the
bundled starter; offline and uncached, or with no model at all (an install without the starter), one line
that names the alternatives. No test needs the network: the hub is switched off (HF_HUB_OFFLINE=1) and its
cache is a fresh folder. The starter's place is swapped for a test folder by a wrapper around the real
entry point, so these tests do not depend on the shipped weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from models.model_source import SHORT_NAMES, hub_id
from training.click_songs import beat_map, click_track

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, random_tiny_model):
    from training.checkpoint import save_published

    model, vocab, _ = random_tiny_model
    folder = tmp_path_factory.mktemp("tiny") / "model"
    save_published(model, vocab, folder)
    return folder


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    folder = tmp_path_factory.mktemp("song")
    click_track(folder / "audio.wav", seconds=4.0)
    beat_map(folder / "map.osu", "audio.wav", seconds=4.0)
    return folder


# The CLI's entry point with models.model_source.STARTER_DIR pointed at argv[1].
WITH_STARTER = ("import pathlib, sys; import models.model_source as source; source.STARTER_DIR = pathlib.Path(sys.argv[1]); "
                "from mapperator_cli.app import main; sys.argv = ['mapper', *sys.argv[2:]]; main()")


def run_mapper(tmp_path, *args: str, model_env: str | None = None, starter=None) -> subprocess.CompletedProcess:
    """`mapper ARGS` offline; the bundled starter is `starter` (default: an empty folder, i.e. absent)."""
    env = {k: v for k, v in os.environ.items() if k != "MAPPER_MODEL" and not k.startswith("HF_")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    if model_env is not None:
        env["MAPPER_MODEL"] = model_env
    if starter is None:
        starter = tmp_path / "no-starter"
        starter.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-c", WITH_STARTER, str(starter), *args], capture_output=True, text=True,
                          env=env, timeout=600)


def one_line(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_hub_ids():
    assert hub_id("v30") == "OliBomby/Mapperatorinator-v30" and hub_id("V29") == SHORT_NAMES["v29"]
    assert hub_id("someone/some-model") == "someone/some-model"
    for not_an_id in ("v33", "folder", "./a/b", "a/b/c", "/abs", "~/x", "a\\b"):
        assert hub_id(not_an_id) is None, not_an_id


@pytest.mark.parametrize("command", ["generate", "timing", "mod", "lora"])
def test_no_model_and_no_starter_names_both_ways_to_give_one(tmp_path, song, command):
    # timing's audio method needs no model (tests/test_audio_timing.py); its model method does
    args = {"generate": [str(song / "audio.wav")], "timing": [str(song / "audio.wav"), "--method", "model"],
            "mod": [str(song / "map.osu")],
            "lora": ["--data", str(tmp_path), "--out", str(tmp_path / "adapter")]}[command]
    line = one_line(run_mapper(tmp_path, command, *args))
    option = "--base" if command == "lora" else "--model"
    assert option in line and "MAPPER_MODEL" in line and "starter model is missing" in line, line


def test_no_model_uses_the_bundled_starter(tmp_path, song, tiny_folder):
    proc = run_mapper(tmp_path, "timing", str(song / "audio.wav"), "--passes", "1", "--out", str(tmp_path),
                      "--quiet", starter=tiny_folder)
    assert proc.returncode == 0, proc.stderr
    proc = run_mapper(tmp_path, "info", "--model", "--json", starter=tiny_folder)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["bundled_starter"] and info["folder"] == str(tiny_folder) and info["parameters"] > 0
    # the environment variable still wins over the starter
    proc = run_mapper(tmp_path, "info", "--model", "--json", starter=tiny_folder, model_env="v30")
    assert proc.returncode == 2 and "OliBomby/Mapperatorinator-v30" in proc.stderr


def test_uncached_hub_model_offline_is_one_line(tmp_path, song):
    line = one_line(run_mapper(tmp_path, "timing", str(song / "audio.wav"), "--model", "v30"))
    assert "OliBomby/Mapperatorinator-v30" in line and "cannot be reached" in line
    assert "--model" in line and "MAPPER_MODEL" in line
    # the same through the environment variable, with another short name
    line = one_line(run_mapper(tmp_path, "timing", str(song / "audio.wav"), model_env="v31"))
    assert "OliBomby/Mapperatorinator-v31" in line and "cannot be reached" in line
    line = one_line(run_mapper(tmp_path, "timing", str(song / "audio.wav"), "--model", "no-such-folder"))
    assert "no-such-folder" in line and "v29" in line


def test_model_from_environment_and_option_wins(tmp_path, song, tiny_folder):
    proc = run_mapper(tmp_path, "timing", str(song / "audio.wav"), "--passes", "1", "--out", str(tmp_path),
                      "--quiet", model_env=str(tiny_folder))
    assert proc.returncode == 0, proc.stderr
    # --model beats $MAPPER_MODEL (which here names a model that cannot be had)
    proc = run_mapper(tmp_path, "mod", str(song / "map.osu"), "--model", str(tiny_folder), "--quiet",
                      model_env="v32")
    assert proc.returncode == 0, proc.stderr


def test_cached_hub_model_works_offline(tmp_path, song, tiny_folder):
    repo = tmp_path / "hf" / "hub" / "models--OliBomby--Mapperatorinator-v30"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for path in tiny_folder.iterdir():
        (snapshot / path.name).write_bytes(path.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    proc = run_mapper(tmp_path, "timing", str(song / "audio.wav"), "--model", "v30", "--passes", "1",
                      "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 0, proc.stderr


def _cache(tmp_path, version: str, model_folder) -> None:
    """A Hugging Face cache entry for the published `version`, holding `model_folder`'s files."""
    repo = tmp_path / "hf" / "hub" / f"models--OliBomby--Mapperatorinator-{version}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for path in model_folder.iterdir():
        (snapshot / path.name).write_bytes(path.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)


def test_no_model_prefers_the_newest_cached_published_checkpoint(tmp_path, tiny_folder):
    _cache(tmp_path, "v29", tiny_folder)
    _cache(tmp_path, "v31", tiny_folder)
    proc = run_mapper(tmp_path, "info", "--model", "--json", starter=tiny_folder)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert not info["bundled_starter"] and "Mapperatorinator-v31" in info["folder"], info
    assert "starter" not in proc.stderr
    # $MAPPER_MODEL still wins over the cache
    proc = run_mapper(tmp_path, "info", "--model", "--json", starter=tiny_folder, model_env=str(tiny_folder))
    assert proc.returncode == 0 and json.loads(proc.stdout)["folder"] == str(tiny_folder), proc.stderr


def test_the_starter_says_so_and_how_to_get_a_published_model(tmp_path, tiny_folder):
    proc = run_mapper(tmp_path, "info", "--model", "--json", starter=tiny_folder)
    assert proc.returncode == 0, proc.stderr
    said = [line for line in proc.stderr.splitlines() if "starter" in line]
    assert len(said) == 1 and "--model v30" in said[0] and "1 GB" in said[0], proc.stderr
    proc = run_mapper(tmp_path, "info", "--model", "--json", starter=tiny_folder, model_env=str(tiny_folder))
    assert "starter" not in proc.stderr
