"""Issue #19, item 7: checks before long work, messages that say what is wrong, signals and a full disk."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile
import typer

from mapperator_cli.errors import run_guarded


def run_mapper(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mapperator_cli", *args], capture_output=True, text=True,
                          timeout=120)


def one_error_line(proc: subprocess.CompletedProcess, text: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mapper: error:") and text in lines[0], proc.stderr


@pytest.fixture
def song(tmp_path):
    path = tmp_path / "song.wav"
    soundfile.write(path, np.zeros(16000, dtype=np.float32), 16000)
    return path


def test_generate_on_a_folder_says_so(tmp_path):
    one_error_line(run_mapper("generate", str(tmp_path), "--model", "none"), "is a folder, not an audio file")


def test_generate_refuses_an_output_folder_that_is_a_file_before_any_work(tmp_path, song):
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    started = time.perf_counter()
    proc = run_mapper("generate", str(song), "--model", "none", "--out", str(blocker / "maps"))
    one_error_line(proc, "is a file, not a folder")
    assert time.perf_counter() - started < 30  # no model was loaded, nothing generated


def test_empty_audio_is_named_empty(tmp_path):
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    one_error_line(run_mapper("info", str(empty)), "the audio file is empty")


def test_mod_with_a_folder_as_audio_says_so(tmp_path):
    beatmap = tmp_path / "map.osu"
    beatmap.write_text("osu file format v14\n[General]\nAudioFilename: song.wav\n[TimingPoints]\n0,500,4,2,0,100,1,0\n"
                       "[HitObjects]\n256,192,1000,1,0,0:0:0:0:\n")
    one_error_line(run_mapper("mod", str(beatmap), "--model", "none", "--audio", str(tmp_path)),
                   "is a folder, not an audio file")


@pytest.mark.parametrize("signum,code,text", [(signal.SIGINT, 130, "mapper: interrupted"),
                                               (signal.SIGTERM, 143, "mapper: interrupted (terminated)")])
def test_signals_stop_with_one_line(tmp_path, signum, code, text):
    fifo = tmp_path / "blocked.osu"
    os.mkfifo(fifo)  # reading it blocks until a writer comes: the command is certainly mid-work
    proc = subprocess.Popen([sys.executable, "-m", "mapperator_cli", "info", str(fifo)], stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while True:  # opening the write end succeeds only once mapper has the read end open
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            assert exc.errno == errno.ENXIO and time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    try:
        time.sleep(0.2)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=30)
    finally:
        os.close(writer)
    assert proc.returncode == code and stderr.strip() == text, (proc.returncode, stderr)


def test_a_full_disk_is_one_line_not_an_internal_error(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["mapper"])
    app = typer.Typer()

    @app.command()
    def write() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out.osu")

    assert run_guarded(app) == 1
    assert capsys.readouterr().err == "mapper: error: the disk is full writing /data/out.osu\n"
