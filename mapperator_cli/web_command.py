"""`mapper web`: the local web page (imports Starlette and uvicorn only when it runs)."""

from __future__ import annotations

from pathlib import Path

import typer

from mapperator_cli.errors import UserError

LISTEN_BACKLOG = 128  # connections held while uvicorn starts


def web(
    port: int = typer.Option(0, "--port", help="Port on 127.0.0.1 (0: a free one)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Print the URL only; do not open a browser."),
    out: Path = typer.Option(Path("."), "--out", help="Folder the runs write their beatmaps into unless the form "
                                                     "names one."),
    jobs: int = typer.Option(1, "--jobs", help="Runs at once; more are queued."),
) -> None:
    """A local page to set the options, start runs, watch them, and download and preview the maps.

    Served on 127.0.0.1 only, with a new token in the URL each launch; Ctrl-C stops it and every run it started."""
    if not 0 <= port <= 65535:
        raise UserError("--port must be between 0 and 65535")
    if jobs < 1:
        raise UserError("--jobs must be at least 1")
    import secrets
    import shutil
    import socket
    import webbrowser

    import uvicorn

    from mapperator_cli.web.app import create_app, new_work_dir

    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))  # bound here, so the URL printed is the one served
        sock.listen(LISTEN_BACKLOG)  # and listening: a browser opened at once waits rather than being refused
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(24)
    work_dir = new_work_dir()
    url = f"http://127.0.0.1:{port}/?token={token}"
    typer.echo(f"mapper web: {url}  (Ctrl-C stops it and its runs)")
    if not no_browser:
        webbrowser.open(url)
    try:
        config = uvicorn.Config(create_app(token, work_dir, out, max_running=jobs), log_level="warning")
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
