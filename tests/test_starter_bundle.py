"""The bundled starter model: exported in fp16 (loaded into the fp32 model on the CPU), shipped with its
model card, used by `mapper generate` when no model is named. These tests check the files and the plumbing,
never how good the trained weights are."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mapperator_cli.app import app
from models.model_source import CARD_FILE, STARTER_DIR, starter_model
from training.click_songs import click_track

runner = CliRunner()
MAX_BYTES = 40 * 1024 * 1024
needs_bundle = pytest.mark.skipif(starter_model() is None, reason=f"no starter model in {STARTER_DIR}")


def test_export_writes_fp16_that_loads_as_fp32(tmp_path, random_tiny_model):
    import torch
    from safetensors import safe_open

    from models.loading import load_model
    from training.checkpoint import save_published
    from training.starter_bundle import export

    model, vocab, _ = random_tiny_model
    run = tmp_path / "run"
    save_published(model, vocab, run)
    (run / "profile.json").write_text("{}")
    out = export(run, tmp_path / "starter")
    with safe_open(str(out / "model.safetensors"), framework="pt") as weights:
        assert {weights.get_tensor(k).dtype for k in weights.keys()} <= {torch.float16, torch.int64}
    loaded = load_model(out)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    for (name, original), (_, restored) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.allclose(original.float(), restored, atol=1e-2, rtol=1e-2), name


@needs_bundle
def test_bundle_is_small_fp16_and_carries_its_card(monkeypatch):
    monkeypatch.delenv("MAPPER_MODEL", raising=False)
    assert (STARTER_DIR / "model.safetensors").stat().st_size <= MAX_BYTES
    result = runner.invoke(app, ["info", "--model", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["bundled_starter"] and info["weights_dtype"] == ["F16"]
    assert 5e6 <= info["parameters"] <= 20e6
    card = json.loads((STARTER_DIR / CARD_FILE).read_text())
    assert info["card"] == card
    for part in ("model", "baseline_beats"):  # measured per mode, the baseline beside the model
        assert set(card["evaluation"][part]) == set(card["evaluation"]["model"])
    result = runner.invoke(app, ["info", "--model"])
    assert result.exit_code == 0 and "bundled starter" in result.output and "baseline" in result.output


@needs_bundle
def test_generate_without_a_model_uses_the_starter(tmp_path, monkeypatch):
    monkeypatch.delenv("MAPPER_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    song = click_track(tmp_path / "clicks.wav", seconds=3.0)
    out = tmp_path / "out"
    result = runner.invoke(app, ["generate", str(song), "--difficulty", "3", "--export-osz", "--seed", "0",
                                 "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    written = sorted(p.suffix for p in out.iterdir())
    assert ".osz" in written
    osu = next(out.glob("*.osu")).read_text()
    assert "ai-generated" in osu and "mapper starter" in osu


def test_the_card_gets_a_per_song_generation_table(tmp_path):
    from training.starter_bundle import add_generation, generation_figures

    def evaluation(objects, f1, stars):
        report = {"reference": {"mode": "osu", "stars": 5.4, "objects": 300},
                  "generated": {"objects": objects, "stars": stars},
                  "comparison": {"bpm_error_pct": 0.0, "offset_error_ms": 3.0, "onset_f1_20ms": f1}}
        return {"songs": [{"reference": "/x/corpus/src/Song/map.osu", "report": report, "seconds": 12.0}]}

    evals = {"starter": [evaluation(250, 0.6, 5.0)], "onsets": [evaluation(260, 0.55, 5.6)],
             "beats": [evaluation(200, 0.1, 1.0)]}
    figures = generation_figures(5.5, evals)
    song = figures["songs"][0]
    assert song["reference"] == "src/Song/map.osu" and song["starter"]["rhythm_f1_20ms"] == 0.6
    assert figures["summary"]["starter"] == {"songs": 1, "songs_with_objects": 1, "median_rhythm_f1_20ms": 0.6,
                                             "stars_within_1": 1}
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"name": "x"}))
    assert add_generation(card, figures, "cmd")["generation"]["stars"] == 5.5
    assert json.loads(card.read_text())["generation"]["command"] == "cmd"
    # with the runs, the evaluation section's per-mode medians come from the same runs
    card.write_text(json.dumps({"name": "x", "evaluation": {"command_model": "m", "model": {}}}))
    evaluation_section = add_generation(card, figures, "cmd", evals)["evaluation"]
    assert evaluation_section["command_model"] == "m" and evaluation_section["maps"] == ["src/Song/map.osu"]
    assert evaluation_section["model"]["osu"]["onset_f1_20ms"] == 0.6
    assert evaluation_section["baseline_beats"]["osu"]["onset_f1_20ms"] == 0.1
