"""The Starlette application of `mapper web`: the page, its form schemas, checks, uploads and runs.

Every request must carry the launch's token (the `token` query parameter or the X-Mapper-Token
header), so neither another local user nor a web page in the browser can drive the server; uploads
are size-limited and written only into the server's own temporary folder; downloads are only the
beatmaps a run wrote, chosen by their index in that run's list (no path from the request is read).

Over 300 lines: the routes share the run manager, the token and the folders through one closure;
split across modules they would have to pass all of them around."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from mapperator_cli.web.form import AUDIO, absolute, check_args, command_args, form_schema
from mapperator_cli.web.preview import run_picture
from mapperator_cli.web.runs import RunManager

MAX_UPLOAD_BYTES = 200 * 1024 * 1024  # a long song in WAV is ~50 MB; a reference .osu a few hundred KB
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
SERVER_FLAGS = ("--json", "--quiet", "--progress", "--help")  # of the other commands: the server's, not the form's
OTHER_COMMANDS = ("timing", "mod", "eval")
EVENT_POLL_S = 0.1


class TokenCheck(BaseHTTPMiddleware):
    def __init__(self, app, token: str):
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next):
        given = request.headers.get("x-mapper-token") or request.query_params.get("token") or ""
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return PlainTextResponse("mapper web: missing or wrong token: open the URL `mapper web` printed",
                                     status_code=403)
        return await call_next(request)


def command_schema(name: str) -> dict:
    """The form of `mapper timing`, `mod` or `eval`, read from the command's own Typer parameters."""
    from mapperator_cli.web.commands import parser

    command = parser(name)
    fields = []
    for param in command.params:
        flag = next((o for o in param.opts if o.startswith("--")), None)
        if flag in SERVER_FLAGS:
            continue
        bare = str(param.bare_type())
        kind = "flag" if getattr(param, "is_flag", False) else {"int": "int", "float": "float", "Path": "path"}.get(bare, "text")
        fields.append({"name": param.name, "flag": flag, "kind": kind,
                       "help": getattr(param, "help", None) or "", "argument": flag is None,
                       "default": None if callable(param.default) else param.default, "required": param.required})
    return {"command": name, "help": (command.help or "").split("\n")[0], "fields": fields}


def other_command_args(name: str, values: dict) -> list[str]:
    args = [name]
    for field in command_schema(name)["fields"]:
        value = values.get(field["name"])
        if value is None or value == "" or value is False:
            continue
        if field["kind"] == "path":
            value = absolute(value)
        if field["argument"]:
            args.insert(1, str(value).strip())
        elif field["kind"] == "flag":
            args.append(field["flag"])
        else:
            args += [field["flag"], str(value).strip()]
    return args


def parse_errors(name: str, args: list[str]) -> dict[str, str]:
    """The command's own parser's refusal of `args`, if any, as {field: message}."""
    import typer

    from mapperator_cli.errors import one_line
    from mapperator_cli.web.commands import parser

    command = parser(name)
    try:
        command.make_context(name, list(args[1:]))
    except typer.TyperException as exc:
        message = one_line(exc.format_message() if hasattr(exc, "format_message") else exc)
        field = next((f["name"] for f in command_schema(name)["fields"] if f["flag"] and f["flag"] in message),
                     next(f["name"] for f in command_schema(name)["fields"] if f["argument"]))
        return {field: message}
    return {}


def create_app(token: str, work_dir: Path, out_dir: Path, *, max_running: int = 1,
               max_upload_bytes: int = MAX_UPLOAD_BYTES, env: dict | None = None) -> Starlette:
    """The app; `work_dir` is its own temporary folder (uploads), `out_dir` where runs write by default."""
    manager = RunManager(max_running=max_running, env=env)  # runs start in the server's folder, as typed paths mean
    uploads = work_dir / "uploads"
    pictures: dict[tuple[str, int], dict] = {}

    def run_of(request: Request):
        return manager.runs.get(request.path_params["run_id"])

    async def index(request: Request):
        page = resources.files("mapperator_cli.web").joinpath("static", "index.html").read_text(encoding="utf-8")
        return HTMLResponse(page.replace("{{TOKEN}}", token), headers={"Cache-Control": "no-store"})

    async def static(request: Request):
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return PlainTextResponse("not found", status_code=404)
        text = resources.files("mapperator_cli.web").joinpath("static", name).read_text(encoding="utf-8")
        return PlainTextResponse(text, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-store"})

    async def schema(request: Request):
        return JSONResponse({"generate": form_schema(),
                             **{name: command_schema(name) for name in OTHER_COMMANDS}})

    async def check(request: Request):
        body = await request.json()
        kind, values = body.get("kind", "generate"), body.get("values") or {}
        args, errors = await run_in_threadpool(_checked, kind, values)
        return JSONResponse({"command": "mapper " + " ".join(args), "args": args, "errors": errors})

    def _checked(kind: str, values: dict) -> tuple[list[str], dict]:
        if kind == "generate":
            args = command_args(values)
            return args, check_args(args)
        if kind not in OTHER_COMMANDS:
            return [kind], {"_form": f"unknown command {kind!r}"}
        args = other_command_args(kind, values)
        return args, parse_errors(kind, args)

    async def upload(request: Request):
        name = _safe_name(request.query_params.get("name", "upload"))
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_upload_bytes:
            return _too_large(max_upload_bytes)
        folder = uploads / secrets.token_hex(8)
        folder.mkdir(parents=True)
        target, size = folder / name, 0
        with open(target, "wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_upload_bytes:
                    handle.close()
                    shutil.rmtree(folder, ignore_errors=True)
                    return _too_large(max_upload_bytes)
                handle.write(chunk)
        return JSONResponse({"path": str(target), "name": name, "bytes": size})

    async def start(request: Request):
        body = await request.json()
        kind, values = body.get("kind", "generate"), dict(body.get("values") or {})
        args, errors = await run_in_threadpool(_checked, kind, values)
        if errors:
            return JSONResponse({"errors": errors, "args": args}, status_code=422)
        audio = reference = None
        if kind == "generate":
            if "--out" not in args:
                args += ["--out", str(out_dir)]
            args += ["--progress", "json"]
            audio = Path(values[AUDIO]) if values.get(AUDIO) else None
            reference = Path(values["beatmap"]) if values.get("beatmap") else None
            if audio is None and reference is not None:  # the reference's own song, as the CLI takes it
                from tokenization import read_beatmap

                audio = reference.parent / read_beatmap(reference).general.audio_filename
        elif kind == "timing":
            args += ["--progress", "json"] + ([] if "--out" in args else ["--out", str(out_dir)])
            audio = Path(values["audio"]) if values.get("audio") else None
        elif kind == "mod":
            args += ["--progress", "json"]
        run = manager.submit(kind, args, audio=audio, reference=reference)
        return JSONResponse(run.summary(), status_code=201)

    async def list_runs(request: Request):
        return JSONResponse([run.summary() for run in manager.runs.values()])

    async def one_run(request: Request):
        run = run_of(request)
        return JSONResponse(run.summary()) if run else _missing()

    async def events(request: Request):
        """Server-Sent Events: every event of the run from `since` on, until it has ended."""
        run = run_of(request)
        if run is None:
            return _missing()
        since = int(request.query_params.get("since", "0") or 0)

        async def stream():
            sent = since
            while True:
                batch = run.events[sent:]
                for event in batch:
                    yield f"data: {json.dumps(event)}\n\n"
                sent += len(batch)
                if run.finished and sent >= len(run.events):
                    yield "event: end\ndata: {}\n\n"
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(EVENT_POLL_S)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def cancel(request: Request):
        run = run_of(request)
        if run is None:
            return _missing()
        await run_in_threadpool(manager.cancel, run)
        return JSONResponse(run.summary())

    async def download(request: Request):
        run = run_of(request)
        files = run.files if run is not None and run.finished else []
        index = request.path_params["index"]
        if not 0 <= index < len(files):
            return _missing()
        return FileResponse(files[index], filename=files[index].name)

    async def audio(request: Request):
        run = run_of(request)
        if run is None or run.audio is None or not run.audio.is_file():
            return _missing()
        return FileResponse(run.audio)

    async def picture(request: Request):
        run = run_of(request)
        files = [p for p in run.files if p.suffix.lower() == ".osu"] if run is not None and run.finished else []
        index = int(request.query_params.get("file", "0") or 0)
        if not 0 <= index < len(files):
            return _missing()
        key = (run.id, index)
        if key not in pictures:
            pictures[key] = await run_in_threadpool(run_picture, files[index], run.audio, run.reference)
        return JSONResponse(pictures[key])

    async def open_folder(request: Request):
        run = run_of(request)
        if run is None or not run.files:
            return _missing()
        await run_in_threadpool(_open_in_file_manager, run.files[0].parent)
        return JSONResponse({"folder": str(run.files[0].parent)})

    routes = [
        Route("/", index), Route("/static/{name}", static), Route("/api/schema", schema),
        Route("/api/check", check, methods=["POST"]), Route("/api/upload", upload, methods=["POST"]),
        Route("/api/runs", list_runs), Route("/api/runs", start, methods=["POST"]),
        Route("/api/runs/{run_id}", one_run), Route("/api/runs/{run_id}/events", events),
        Route("/api/runs/{run_id}/cancel", cancel, methods=["POST"]),
        Route("/api/runs/{run_id}/files/{index:int}", download), Route("/api/runs/{run_id}/audio", audio),
        Route("/api/runs/{run_id}/picture", picture),
        Route("/api/runs/{run_id}/open-folder", open_folder, methods=["POST"]),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:  # Ctrl-C or a stopped server: no run outlives it
            await run_in_threadpool(manager.shutdown)

    app = Starlette(routes=routes, middleware=[Middleware(TokenCheck, token=token)], lifespan=lifespan)
    app.state.manager = manager
    return app


def _safe_name(name: str) -> str:
    """A plain file name from what the browser sent (no folders, no odd characters)."""
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", Path(name.replace("\\", "/")).name).strip(" .")
    return base[:120] or "upload"


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"error": f"upload larger than {limit // (1024 * 1024)} MB"}, status_code=413)


def _missing() -> JSONResponse:
    return JSONResponse({"error": "not found"}, status_code=404)


def _open_in_file_manager(folder: Path) -> None:
    import subprocess
    import sys

    opener = {"darwin": ["open"], "win32": ["explorer"]}.get(sys.platform, ["xdg-open"])
    try:
        subprocess.Popen([*opener, str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        pass


def new_work_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="mapper-web-"))
