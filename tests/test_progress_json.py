"""`--progress json`: one JSON line per update for tools (`mapper web` reads it)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

from mapperator_cli.progress import JsonProgress

ROOT = Path(__file__).resolve().parents[1]


def test_one_json_line_per_update_with_the_token_rate():
    stream = io.StringIO()
    with JsonProgress(stream=stream) as progress:
        progress.update("timing", 1, 3, 100)
        time.sleep(0.05)
        progress.update("timing", 2, 3, 150)
        progress.update("refine", 1, 1)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["pass"], r["done"], r["total"], r["tokens"]) for r in lines] == [
        ("timing", 1, 3, 100), ("timing", 2, 3, 150), ("refine", 1, 1, None)]
    assert lines[0]["tokens_per_s"] is None  # the first interval is loading, not decoding
    assert 0 < lines[1]["tokens_per_s"] <= 50 / 0.05
    assert lines[2]["tokens_per_s"] is None and lines[2]["elapsed_s"] >= lines[1]["elapsed_s"]


def test_an_unknown_progress_format_is_one_line(tmp_path):
    for command in (["generate", "song.wav"], ["timing", "song.wav"], ["mod", "map.osu"]):
        (tmp_path / "song.wav").write_bytes(b"")
        (tmp_path / "map.osu").write_text("osu file format v14\n")
        result = subprocess.run([sys.executable, "-m", "mapperator_cli", *command, "--progress", "xml"],
                                capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": ""})
        assert result.returncode != 0
        assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr
        assert "--progress" in result.stderr and "json" in result.stderr, result.stderr
