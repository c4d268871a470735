"""`mapper web` through its HTTP API (Starlette's test client): the form is the option table, values
are refused with the CLI's messages, runs are real `mapper` child processes that stream, finish or
are cancelled with nothing left behind, and only a run's own beatmaps can be downloaded."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")

from starlette.testclient import TestClient  # noqa: E402

from mapperator_cli.generate_options import OPTIONS  # noqa: E402
from mapperator_cli.web.app import create_app  # noqa: E402
from mapperator_cli.web.runs import group_alive  # noqa: E402
from tests.web_helpers import REFERENCE, TOKEN, tiny_model_and_song  # noqa: E402

AUTH = {"X-Mapper-Token": TOKEN}


@pytest.fixture(scope="module")
def model_and_song(tmp_path_factory):
    return tiny_model_and_song(tmp_path_factory.mktemp("web-model"))


@pytest.fixture
def client(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "out").mkdir()
    app = create_app(TOKEN, tmp_path / "work", tmp_path / "out", max_upload_bytes=1000)
    with TestClient(app) as test_client:
        test_client.out_dir = tmp_path / "out"
        yield test_client


def events(client, run_id: str, until=None) -> list[dict]:
    """The run's Server-Sent Events, read until the stream ends or `until(event)` says stop."""
    seen = []
    with client.stream("GET", f"/api/runs/{run_id}/events", headers=AUTH) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: {}":
                seen.append(json.loads(line[6:]))
                if until is not None and until(seen[-1]):
                    break
    return seen


def test_requests_without_the_token_are_refused(client):
    for path in ("/", "/api/schema", "/api/runs", "/static/app.js", "/api/runs/x/files/0"):
        assert client.get(path).status_code == 403
        assert client.get(path, params={"token": "wrong"}).status_code == 403
    assert client.post("/api/runs", json={"values": {}}).status_code == 403
    page = client.get("/", params={"token": TOKEN})
    assert page.status_code == 200 and TOKEN in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from a CDN: the page is offline
    assert client.get("/static/app.js", params={"token": TOKEN}).status_code == 200


def test_the_form_schema_is_the_option_table(client):
    schema = client.get("/api/schema", headers=AUTH).json()
    fields = schema["generate"]["fields"]
    assert fields[0]["name"] == "audio"
    table = [(o.name, o.flag, o.panel, o.help, list(o.choices) if o.choices else None,
              list(o.modes) if o.modes else None) for o in OPTIONS]
    assert [(f["name"], f["flag"], f["group"], f["help"], f["choices"], f["modes"]) for f in fields[1:]] == table
    by_name = {f["name"]: f for f in fields}
    assert by_name["hp"]["range"] == {"low": 0, "high": 10}
    assert by_name["keycount"]["modes"] == ["mania"] and by_name["gamemode"]["choices"][0] == "osu"
    assert by_name["refine"]["kind"] == "switch" and by_name["refine"]["negative_flag"] == "--no-refine"
    assert by_name["progress"]["server"] and by_name["quiet"]["server"]
    assert {"timing", "mod", "eval"} <= schema.keys()
    assert not {"--json", "--progress", "--quiet"} & {f["flag"] for f in schema["timing"]["fields"]}


def test_bad_values_are_refused_with_the_cli_message(client, model_and_song, tmp_path, monkeypatch, capsys):
    from mapperator_cli.app import app
    from mapperator_cli.errors import run_guarded

    model, song = model_and_song
    cases = [({"hp": "12"}, "hp"), ({"seed": "abc"}, "seed"), ({"offset": "3"}, "offset"),
             ({"gamemode": "piano"}, "gamemode"), ({"top_p": "0"}, "top_p")]
    for values, field in cases:
        values = {"audio": str(song), "model": str(model), **values}
        body = client.post("/api/check", headers=AUTH, json={"values": values}).json()
        assert list(body["errors"]) == [field], body
        started = client.post("/api/runs", headers=AUTH, json={"values": values})
        assert started.status_code == 422 and started.json()["errors"] == body["errors"]
        monkeypatch.setattr("sys.argv", ["mapper", *body["args"]])  # the CLI itself, given the same command line
        assert run_guarded(app) != 0
        said = capsys.readouterr().err
        assert said.startswith(f"mapper: error: {body['errors'][field]}"), (body, said)
    missing = client.post("/api/check", headers=AUTH, json={"values": {"audio": str(tmp_path / "no.wav")}}).json()
    assert missing["errors"] == {"audio": f"{tmp_path / 'no.wav'}: audio file not found"}
    good = client.post("/api/check", headers=AUTH, json={"values": {"audio": str(song), "hp": "7", "refine": "off",
                                                                     "descriptor": ["jump aim", "clean"]}}).json()
    assert good["errors"] == {}
    assert good["args"] == ["generate", str(song), "--no-refine", "--descriptor", "jump aim", "--descriptor", "clean",
                            "--hp", "7"]


def test_uploads_are_size_limited_and_stay_in_the_servers_folder(client, tmp_path):
    small = client.post("/api/upload", headers=AUTH, params={"name": "../../evil/../song.wav"}, content=b"x" * 500)
    assert small.status_code == 200
    path = small.json()["path"]
    assert path.startswith(str(tmp_path / "work" / "uploads")) and path.endswith("/song.wav")
    big = client.post("/api/upload", headers=AUTH, params={"name": "big.wav"}, content=b"x" * 1001)
    assert big.status_code == 413
    assert not [p for p in (tmp_path / "work" / "uploads").rglob("big.wav")]


def test_a_run_streams_progress_and_offers_its_files_only(client, model_and_song):
    model, song = model_and_song
    reference = song.parent / REFERENCE
    started = client.post("/api/runs", headers=AUTH, json={"values": {
        "audio": str(song), "model": str(model), "seed": "1", "export_osz": True, "device": "cpu",
        "beatmap": str(reference)}})
    assert started.status_code == 201
    run = started.json()
    assert run["command"].startswith(f"mapper generate {song} --model {model} --seed 1 --beatmap '{reference}'")
    assert "--export-osz" in run["command"]
    assert run["command"].endswith("--progress json")
    seen = events(client, run["id"])
    progress = [e for e in seen if e["type"] == "progress"]
    assert progress and {"pass", "done", "total", "tokens", "tokens_per_s"} <= progress[0].keys()
    assert "map" in {e["pass"] for e in progress}
    assert seen[-1]["type"] == "status" and seen[-1]["status"] == "done", seen
    summary = client.get(f"/api/runs/{run['id']}", headers=AUTH).json()
    names = [f["name"] for f in summary["files"]]
    assert [n.rsplit(".", 1)[1] for n in names] == ["osu", "osz"]
    osu = client.get(f"/api/runs/{run['id']}/files/0", headers=AUTH)
    assert osu.status_code == 200 and osu.text.startswith("osu file format")
    assert client.get(f"/api/runs/{run['id']}/files/1", headers=AUTH).content[:2] == b"PK"
    for bad in ("/files/2", "/files/-1", "/files/..%2F..%2Fetc%2Fpasswd", "/files/0/../../audio.wav"):
        assert client.get(f"/api/runs/{run['id']}{bad}", headers=AUTH).status_code == 404
    assert client.get("/api/runs/nope/files/0", headers=AUTH).status_code == 404
    picture = client.get(f"/api/runs/{run['id']}/picture", headers=AUTH).json()
    assert picture["map"]["red_lines"] and picture["audio"]["duration_ms"] == pytest.approx(6000, abs=50)
    # with a reference map: both drawn, and `mapper eval`'s figures of the two
    assert [o["t"] for o in picture["reference"]["objects"][:3]] == [500, 1000, 1500]
    assert picture["reference"]["red_lines"] == [{"t": 500, "bpm": 120}]
    assert {"generated", "reference", "comparison"} <= picture["eval"].keys()
    assert client.get(f"/api/runs/{run['id']}/audio", headers=AUTH).content[:4] == b"RIFF"


def test_a_cancelled_run_leaves_no_process(client, model_and_song):
    model, song = model_and_song
    run = client.post("/api/runs", headers=AUTH, json={"values": {"audio": str(song), "model": str(model)}}).json()
    queued = client.post("/api/runs", headers=AUTH, json={"values": {"audio": str(song), "model": str(model)}}).json()
    assert queued["status"] == "queued"  # one run at a time here: the second waits
    events(client, run["id"], until=lambda e: e.get("status") == "running")
    manager = client.app.state.manager
    pid = manager.runs[run["id"]].process.pid
    assert group_alive(pid)
    client.post(f"/api/runs/{queued['id']}/cancel", headers=AUTH)
    assert client.post(f"/api/runs/{run['id']}/cancel", headers=AUTH).status_code == 200
    seen = events(client, run["id"])
    assert seen[-1]["status"] == "cancelled"
    deadline = time.time() + 10
    while group_alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    assert not group_alive(pid)
    assert client.get(f"/api/runs/{queued['id']}", headers=AUTH).json()["status"] == "cancelled"
    assert client.get(f"/api/runs/{run['id']}/files/0", headers=AUTH).status_code == 404


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads child processes from Linux /proc")
def test_ctrl_c_stops_mapper_web_and_every_run_it_started(model_and_song, tmp_path):
    import urllib.error
    import urllib.request

    def post(url: str, token: str, body: dict) -> tuple[int, str]:
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                         headers={"X-Mapper-Token": token, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()

    model, song = model_and_song
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    server = subprocess.Popen([sys.executable, "-m", "mapperator_cli", "web", "--no-browser", "--out", str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+/\?token=\S+", server.stdout.readline()).group(0)
        base, token = url.split("/?token=")
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(base + "/api/runs", timeout=30)
        status, text = post(base + "/api/runs", token, {"values": {"audio": str(song), "model": str(model)}})
        assert status == 201, text
        children = _children(server.pid)
        assert children and all(os.getpgid(child) == child for child in children)  # each leads its own group
        server.send_signal(signal.SIGINT)
        assert server.wait(30) != 0
        assert "interrupted" in server.stderr.read()
        deadline = time.time() + 10
        while any(group_alive(child) for child in children) and time.time() < deadline:
            time.sleep(0.1)
        assert not any(group_alive(child) for child in children)
    finally:
        if server.poll() is None:
            server.kill()


def test_the_other_tabs_are_their_commands_forms(client, model_and_song, monkeypatch):
    model, song = model_and_song
    monkeypatch.chdir(song.parent)
    body = client.post("/api/check", headers=AUTH, json={"kind": "timing", "values": {
        "audio": song.name, "passes": "many"}}).json()
    assert body["args"][:2] == ["timing", str(song)]  # a relative path, made absolute on the server
    assert list(body["errors"]) == ["passes"] and "'--passes'" in body["errors"]["passes"]
    body = client.post("/api/check", headers=AUTH, json={"kind": "eval", "values": {
        "target": "a.osu", "reference": "b.osu"}}).json()
    assert body["args"] == ["eval", str(song.parent / "a.osu"), "--reference", str(song.parent / "b.osu")]
    assert body["errors"] == {}
    assert client.post("/api/runs", headers=AUTH, json={"kind": "shell", "values": {}}).status_code == 422
