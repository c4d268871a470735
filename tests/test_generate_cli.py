"""`mapper generate` end to end with the reference tiny v29 checkpoint (random weights)."""

from __future__ import annotations

import subprocess
import sys

import rosu_pp_py as rosu

from tests.conftest import require_shared
from tokenization import read_beatmap


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mapperator_cli", "generate", *args], capture_output=True, text=True,
                          timeout=600)


def test_generate_writes_a_readable_beatmap(tmp_path):
    model = require_shared("fixtures", "ref-v29-tiny")
    audio = require_shared("fixtures", "audio", "click120.wav")
    timing = require_shared("fixtures", "audio", "click120_timing.osu")
    for extra in ([], ["--beatmap", str(timing), "--in-context", "timing"]):
        out = tmp_path / ("plain" if not extra else "timed")
        proc = run(str(audio), "--model", str(model), "--seed", "0", "--out", str(out), "--quiet", *extra)
        assert proc.returncode == 0, proc.stderr
        written = [line for line in proc.stdout.splitlines() if line.strip()]
        assert len(written) == 1 and written[0].endswith(".osu")
        beatmap = read_beatmap(written[0])
        assert "ai-generated" in beatmap.metadata.tags and "AI" in beatmap.metadata.creator
        assert beatmap.general.audio_filename == "click120.wav"
        rosu.Difficulty().calculate(rosu.Beatmap(path=written[0]))  # rosu-pp reads it
        if extra:  # the reference's timing is kept
            red = [tp for tp in beatmap.timing_points if tp.uninherited]
            assert red and red[0].time == 250 and red[0].beat_length == 500
    # same seed, same map; nothing is overwritten: a second run gets a new name
    again = run(str(audio), "--model", str(model), "--seed", "0", "--out", str(tmp_path / "plain"), "--quiet")
    assert again.returncode == 0
    files = sorted((tmp_path / "plain").glob("*.osu"))
    assert len(files) == 2 and files[0].read_text() == files[1].read_text()


def test_generate_on_a_corpus_song_with_its_reference_map(tmp_path):
    model = require_shared("fixtures", "ref-v29-tiny")
    source = require_shared("corpus", "ppy+osu-resources", "welcome", "nekodex - welcome to osu! (peppy).osu")
    before = sorted(p.name for p in source.parent.iterdir())
    proc = run("--model", str(model), "--beatmap", str(source), "--in-context", "TIMING", "--seed", "0",
               "--no-refine", "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 0, proc.stderr
    beatmap = read_beatmap(proc.stdout.strip())
    rosu.Difficulty().calculate(rosu.Beatmap(path=proc.stdout.strip()))
    reference = read_beatmap(source)
    assert beatmap.metadata.title == reference.metadata.title and beatmap.general.audio_filename == "welcome.ogg"
    red = [(tp.time, tp.beat_length) for tp in beatmap.timing_points if tp.uninherited]
    assert red[0] == next((tp.time, tp.beat_length) for tp in reference.timing_points if tp.uninherited)
    assert sorted(p.name for p in source.parent.iterdir()) == before  # nothing written beside the corpus map
    # the reference's difficulty settings are filled in
    assert (beatmap.difficulty.hp_drain_rate, beatmap.difficulty.approach_rate) == (
        reference.difficulty.hp_drain_rate, reference.difficulty.approach_rate)


def test_generate_bad_input_is_one_line(tmp_path):
    model = require_shared("fixtures", "ref-v29-tiny")
    proc = run(str(tmp_path / "missing.mp3"), "--model", str(model))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "not found" in proc.stderr
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\x00" * 100)
    proc = run(str(bad), "--model", str(model), "--quiet")
    assert proc.returncode == 2 and "cannot decode audio" in proc.stderr and "Traceback" not in proc.stderr
    proc = run(str(bad), "--model", str(tmp_path / "no-model"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_precision_and_device_options(tmp_path):
    model = require_shared("fixtures", "ref-v29-tiny")
    audio = require_shared("fixtures", "audio", "click120.wav")
    proc = run(str(audio), "--model", str(model), "--precision", "fp8")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--precision" in proc.stderr
    proc = run(str(audio), "--model", str(model), "--device", "tpu")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--device" in proc.stderr
    import torch

    device = "cuda" if not torch.cuda.is_available() else "cpu"
    proc = run(str(audio), "--model", str(model), "--seed", "0", "--greedy", "--precision", "amp", "--device", device,
               "--no-refine", "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert (device == "cpu") or "no CUDA GPU is available: running on the CPU" in proc.stderr
    read_beatmap(proc.stdout.strip())
    proc = run(str(audio), "--model", str(model), "--precision", "int8", "--device", "cuda")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "CPU only" in proc.stderr
    proc = run(str(audio), "--model", str(model), "--seed", "0", "--greedy", "--precision", "int8",
               "--no-refine", "--out", str(tmp_path / "int8"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    read_beatmap(proc.stdout.strip())


def test_style_settings_and_metadata_options(tmp_path):
    model = require_shared("fixtures", "ref-v29-tiny")
    audio = require_shared("fixtures", "audio", "click120.wav")
    common = [str(audio), "--model", str(model), "--seed", "0", "--no-refine", "--out", str(tmp_path), "--quiet"]
    proc = run(*common, "--mapper", "1161", "--hp", "6.5", "--od", "7", "--ar", "8.5", "--slider-tick-rate", "2",
               "--creator", "Bob", "--difficulty-name", "Bob's Insane", "--source", "Game X",
               "--title", "Click", "--title-unicode", "クリック", "--top-k", "20", "--timing-temperature", "0.2",
               "--lookback", "0.3", "--lookahead", "0.3", "--timing-leniency", "10", "--no-resnap",
               "--no-snap-overlaps", "--no-hitsounds", "--timeshift-bias", "0.5", "--num-beams", "2")
    assert proc.returncode == 0, proc.stderr
    assert "does not know mapper" not in proc.stderr  # 1161 is one of the fixture's mappers
    beatmap = read_beatmap(proc.stdout.strip())
    m, d = beatmap.metadata, beatmap.difficulty
    assert (m.title, m.title_unicode, m.artist_unicode, m.source) == ("Click", "クリック", "Unknown Artist", "Game X")
    assert m.creator == "Bob (AI)" and m.version == "Bob's Insane" and "ai-generated" in m.tags
    assert (d.hp_drain_rate, d.overall_difficulty, d.approach_rate, d.slider_tick_rate) == (6.5, 7, 8.5, 2)
    proc = run(*common, "--bpm", "150", "--offset", "230")  # a known tempo instead of the timing pass
    assert proc.returncode == 0, proc.stderr
    red = [(tp.time, tp.beat_length) for tp in read_beatmap(proc.stdout.strip()).timing_points if tp.uninherited]
    assert red == [(230, 400)]
    proc = run(*common, "--mapper", "99999999")
    assert proc.returncode == 0 and "the model does not know mapper 99999999" in proc.stderr
    for bad, text in [(["--hold-note-ratio", "1.5"], "--hold-note-ratio must be between 0 and 1"),
                      (["--lookback", "0.6", "--lookahead", "0.4"], "--lookback plus --lookahead"),
                      (["--top-k", "-1"], "--top-k"), (["--ar", "11"], "--ar must be between 0 and 10"),
                      (["--mapper", "0"], "--mapper"), (["--offset", "20"], "--offset needs --bpm"),
                      (["--num-beams", "0"], "--num-beams")]:
        proc = run(*common, *bad)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and text in proc.stderr, (bad, proc.stderr)


def test_generate_with_the_other_versions(tmp_path):
    audio = require_shared("fixtures", "audio", "click120.wav")
    for version in ("v30", "v31", "v32"):
        model = require_shared("fixtures", f"ref-{version}-tiny")
        proc = run(str(audio), "--model", str(model), "--seed", "0", "--out", str(tmp_path / version), "--quiet")
        assert proc.returncode == 0, proc.stderr
        beatmap = read_beatmap(proc.stdout.strip())
        assert beatmap.metadata.version.startswith(f"Mapperatorinator {version.upper()}")


def test_guidance_options_osz_and_given_contexts(tmp_path):
    import zipfile

    model = require_shared("fixtures", "ref-v29-tiny")
    audio = require_shared("fixtures", "audio", "click120.wav")
    timing = require_shared("fixtures", "audio", "click120_timing.osu")
    proc = run(str(audio), "--model", str(model), "--seed", "0", "--out", str(tmp_path), "--quiet", "--cfg-scale", "2",
               "--descriptor", "grid snap", "--negative-descriptor", "simple", "--export-osz", "--beatmap", str(timing),
               "--in-context", "timing", "--in-context", "kiai", "--output-type", "map")
    assert proc.returncode == 0, proc.stderr
    osu, osz = proc.stdout.split("\n")[:2]
    assert osu.endswith(".osu") and osz.endswith(".osz")
    with zipfile.ZipFile(osz) as archive:
        assert sorted(archive.namelist()) == sorted([osu.rsplit("/", 1)[-1], "click120.wav"])
    bad = run(str(audio), "--model", str(model), "--negative-descriptor", "simple")
    assert bad.returncode == 2 and "--cfg-scale" in bad.stderr
    bad = run(str(audio), "--model", str(model), "--output-type", "storyboard")
    assert bad.returncode == 2 and "--output-type" in bad.stderr


def test_guidance_pushes_towards_the_wanted_prompt():
    import torch

    from models.decoding.rules import ClassifierFreeGuidance
    from tokenization.prompt import Conditioning, negative_conditioning

    cond, uncond = torch.tensor([[2.0, 0.0, 1.0]]), torch.tensor([[0.0, 2.0, 1.0]])
    guided = ClassifierFreeGuidance(3.0)(None, torch.cat([cond, uncond]))
    assert guided[0].argmax() == 0 and guided[0, 0] > cond[0, 0]  # further towards the conditional side
    c = Conditioning(mapper_id=5, descriptors=["tech"], negative_descriptors=["simple"], beatmap_id=9)
    n = negative_conditioning(c)
    assert n.descriptors == ["simple"] and n.mapper_id == 5 and n.beatmap_id is None
    assert negative_conditioning(Conditioning(mapper_id=5)).mapper_id is None


def test_add_to_beatmap_writes_a_new_file_and_overwrite_keeps_a_backup(tmp_path):
    from training.click_songs import song_folder

    model = require_shared("fixtures", "ref-v29-tiny")
    folder = song_folder(tmp_path)
    source = next(folder.glob("*.osu"))
    original = source.read_bytes()
    span = ("--start-time", "4000", "--end-time", "0:08")
    # no AUDIO: the reference's own; no --out: the reference's folder
    proc = run("--model", str(model), "--beatmap", str(source), "--in-context", "timing", "--in-context", "gd",
               *span, "--add-to-beatmap", "--seed", "1", "--quiet")
    assert proc.returncode == 0, proc.stderr
    new = proc.stdout.strip()
    assert new.endswith("[Beats (AI remap)].osu") and new.startswith(str(folder))
    assert source.read_bytes() == original  # the source is untouched
    before, after = read_beatmap(source), read_beatmap(new)
    outside = [o.time for o in before.hit_objects if not 4000 <= o.time <= 8000]
    assert [o.time for o in after.hit_objects if not 4000 <= o.time <= 8000] == outside
    assert "ai-generated" in after.metadata.tags
    rosu.Difficulty().calculate(rosu.Beatmap(path=new))

    proc = run("--model", str(model), "--beatmap", str(source), "--in-context", "no_hs", *span, "--add-to-beatmap",
               "--overwrite", "--seed", "1", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(source) and "old contents" in proc.stderr
    assert (folder / (source.name + ".bak")).read_bytes() == original
    assert "ai-generated" in read_beatmap(source).metadata.tags


def test_reference_options_are_checked(tmp_path):
    model = require_shared("fixtures", "ref-v29-tiny")
    v32 = require_shared("fixtures", "ref-v32-tiny")
    audio = require_shared("fixtures", "audio", "click120.wav")
    timing = require_shared("fixtures", "audio", "click120_timing.osu")
    cases = [
        (["--model", str(model), str(audio), "--overwrite"], "--overwrite"),
        (["--model", str(model), str(audio), "--add-to-beatmap"], "--beatmap"),
        (["--model", str(model), str(audio), "--start-time", "5000", "--end-time", "4000"], "--end-time"),
        (["--model", str(model), str(audio), "--start-time", "soon"], "--start-time"),
        (["--model", str(v32), str(audio), "--beatmap", str(timing), "--in-context", "gd"], "no gd context"),
        (["--model", str(model), "--in-context", "timing"], "AUDIO"),
    ]
    for args, expected in cases:
        proc = run(*args, "--quiet")
        assert proc.returncode == 2 and expected in proc.stderr and proc.stderr.count("\n") == 1, (args, proc.stderr)
