"""`trainlab ui`: serve the live dashboard over a store (read-only) on 127.0.0.1 by default."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from trainlab.cli.app import StoreOpt, app, err
from trainlab.errors import ConfigError, MissingExtraError, StoreError

LOOPBACK = ("127.0.0.1", "localhost")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free one); StoreError if it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = "is in use" if exc.errno == 98 else f"cannot be bound ({exc.strerror})"
        raise StoreError(f"--port {port} on {host} {reason}: choose another with --port") from None
    sock.listen(128)
    return sock


@app.command()
def ui(
    store: StoreOpt = None,
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port)")] = 8765,
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but 127.0.0.1 exposes your runs")
    ] = "127.0.0.1",
    open_browser: Annotated[bool, typer.Option("--open", help="Open it in a browser")] = False,
) -> None:
    """A live dashboard of the store: runs, curves while they train, groups over seeds, studies,
    searches and inspections. Read-only: it never writes or locks the store (a store from an older
    trainlab is first upgraded once). Prints its URL."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port}: choose 0 (any free port) to 65535")
    try:
        import plotly  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise MissingExtraError(exc.name or "starlette", "ui") from None
    from trainlab.ui.app import create_app

    root = Path(store or os.environ.get("TRAINLAB_STORE") or "trainlab-runs")
    if not root.is_dir():
        raise StoreError(f"--store {str(root)!r} is not a folder: give a store that exists")
    from trainlab.track.store import Store, needs_upgrade

    if needs_upgrade(root):  # a store from an older trainlab: migrate it once, then read only
        Store(root).close()
        err.print(f"upgraded {root.resolve()} to this trainlab's store schema", highlight=False)
    sock = bind(host, port)
    port = sock.getsockname()[1]
    asgi = create_app(root, host, port)
    if host not in LOOPBACK:
        err.print(
            f"[yellow]warning:[/] serving on {host}: anyone who can reach this address can read"
            " your runs (there is no login)",
            highlight=False,
        )
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    print(url, flush=True)
    err.print(f"serving {root.resolve()} read-only at {url} (Ctrl-C stops)", highlight=False)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(asgi, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
