"""Issue #25, class 4: training faults. A damaged newest checkpoint is passed over for an intact older
one; a full disk while saving is one line and leaves no `.partial`; metrics.jsonl holds each step
once after a resume."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import torch

from mapperator_cli.app import app
from mapperator_cli.errors import run_guarded
from tests.synthetic import song_folder

SONG_SECONDS = 8.0
FAST = ["train", "--profile", "tiny", "--batch-size", "2", "--eval-every", "0", "--checkpoint-every", "2",
        "--workers", "0", "--quiet", "--cpu"]


def mapper(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["mapper", *args])
    code = run_guarded(app)
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from training import build_dataset

    root = tmp_path_factory.mktemp("data")
    song_folder(root / "songs", seconds=SONG_SECONDS)
    build_dataset([root / "songs"], root / "dataset")
    return root / "dataset"


def test_resume_passes_over_a_damaged_checkpoint_and_logs_each_step_once(dataset, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    code, err = mapper(monkeypatch, capsys, *FAST, "--data", str(dataset), "--out", str(run), "--max-steps", "4")
    assert code == 0, err
    weights = run / "checkpoint-4" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # a crash while it was copied elsewhere, say
    code, err = mapper(monkeypatch, capsys, *FAST, "--data", str(dataset), "--out", str(run), "--max-steps", "6",
                       "--resume")
    assert code == 0, err
    warning = [line for line in err.splitlines() if "damaged" in line]
    assert len(warning) == 1 and "checkpoint-4" in warning[0] and "checkpoint-2" in warning[0], err
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # 3 and 4 ran again after the resume from step 2: each step is logged once (the first run's
    # evaluation at its last step, 4, went with the steps it measured)
    assert [r["step"] for r in records if r.get("split") != "eval"] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in records if r.get("split") == "eval"] == [6]


def test_a_full_disk_while_saving_a_checkpoint_is_one_line_and_leaves_no_partial(dataset, tmp_path, monkeypatch,
                                                                                    capsys):
    run = tmp_path / "run"
    code, err = mapper(monkeypatch, capsys, *FAST, "--data", str(dataset), "--out", str(run), "--max-steps", "2")
    assert code == 0, err
    saved = {p.name: p.read_bytes() for p in (run / "checkpoint-2").iterdir()}
    real_save, real_usage = torch.save, shutil.disk_usage

    def full_save(obj, path, *args, **kwargs):
        if "checkpoint-4" in str(path):  # what torch's zip writer raises when the disk fills under it
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
        return real_save(obj, path, *args, **kwargs)

    def no_space(path):
        usage = real_usage(path)
        return usage._replace(free=0) if "run" in str(path) else usage

    monkeypatch.setattr(torch, "save", full_save)
    monkeypatch.setattr(shutil, "disk_usage", no_space)
    code, err = mapper(monkeypatch, capsys, *FAST, "--data", str(dataset), "--out", str(run), "--max-steps", "4",
                       "--resume")
    assert code == 1
    assert err.strip().splitlines()[-1] == f"mapper: error: the disk is full writing {run / 'checkpoint-4'}", err
    assert "internal error" not in err
    assert not list(run.glob("*.partial")) and not (run / "checkpoint-4").exists()
    assert {p.name: p.read_bytes() for p in (run / "checkpoint-2").iterdir()} == saved
