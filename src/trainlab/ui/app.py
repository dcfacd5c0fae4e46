"""The dashboard's ASGI app (Starlette): one page, our JS/CSS and plotly.min.js from this origin, and
read-only JSON endpoints over the store. Nothing here writes the store.

Every response carries a strict Content-Security-Policy (scripts from this origin only); a request
whose Host is not the bound host:port (DNS rebinding) or that comes from another origin is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.responses import JSONResponse as _StarletteJSON
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trainlab.errors import TrainlabError
from trainlab.track.strictjson import dumps
from trainlab.ui import groups, records
from trainlab.ui.queries import Reader, columns_param

STATIC = Path(__file__).with_name("static")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; object-src 'none';"
    " base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
LOOPBACK = ("127.0.0.1", "localhost")
REPORT_TIMEOUT_S = 600


class JSONResponse(_StarletteJSON):
    """Strict JSON: a NaN or infinity anywhere in the answer is null, never a 500."""

    def render(self, content: Any) -> bytes:
        return dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def plotly_js() -> Path | None:
    """plotly.min.js as the plotly wheel ships it (served from our origin, never a CDN)."""
    try:
        import plotly
    except ImportError:
        return None
    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


class Guard:
    """Refuse a Host other than host:port and cross-origin requests; add the security headers."""

    def __init__(self, app: ASGIApp, hosts: list[str]) -> None:
        self.app, self.hosts = app, set(hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        host = headers.get("host", "")
        origin = headers.get("origin")
        site = headers.get("sec-fetch-site", "same-origin")
        problem = ""
        if host not in self.hosts:
            problem = f"host {host!r} is not this server"
        elif origin is not None and origin not in {f"http://{h}" for h in self.hosts}:
            problem = f"origin {origin!r} is not this server"
        elif site not in ("same-origin", "none"):
            problem = "cross-site request refused"
        if problem:
            await PlainTextResponse(problem, status_code=400)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def allowed_hosts(host: str, port: int | None) -> list[str]:
    names = [host, *(LOOPBACK if host in LOOPBACK else ())]
    names = [f"[{n}]" if ":" in n else n for n in names]
    return [f"{n}:{port}" if port else n for n in names]


def create_app(store: Path, host: str = "127.0.0.1", port: int | None = 8765) -> Starlette:
    """The dashboard over the store folder `store` for a server bound to host:port."""
    reader = Reader(store)
    hosts = allowed_hosts(host, port)
    Handler = Callable[[Request], Awaitable[Any]]

    def api(fn: Callable[[Request], Any]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                result = await run_in_threadpool(fn, request)
            except ValueError as exc:  # a malformed number in the query string
                return JSONResponse({"error": f"bad parameter: {exc}"}, status_code=400)
            except TrainlabError as exc:
                status = 404 if "not found" in str(exc) or "not in this store" in str(exc) else 400
                return JSONResponse({"error": str(exc)}, status_code=status)
            return result if isinstance(result, Response) else JSONResponse(result)

        return endpoint

    def q(request: Request, name: str, default: str = "") -> str:
        return request.query_params.get(name, default)

    def ids_of(request: Request) -> list[str]:
        return [i for i in q(request, "ids").split(",") if i][:200]

    def runs(request: Request) -> Any:
        return reader.runs(
            q(request, "q"),
            sort=q(request, "sort", "created"),
            desc=q(request, "order", "desc") != "asc",
            page=max(0, int(q(request, "page", "0") or 0)),
            size=int(q(request, "size", "50") or 50),
            columns=columns_param(q(request, "cols")),
        )

    def fields(request: Request) -> Any:
        config, metrics = reader.fields()
        return {"config": config, "metrics": metrics}

    def grouped(request: Request) -> Any:
        ids = ids_of(request) or reader.run_ids(q(request, "q"))
        by = [b.strip() for b in q(request, "by", "seed").split(",") if b.strip()]
        return groups.groups(
            reader, ids, by, q(request, "metric", "val_acc"), q(request, "how", "last"),
            int(q(request, "k", "0") or 0),
        )  # fmt: skip

    def file(request: Request) -> Any:
        p = request.path_params
        base = records.folder(reader, p["kind"], p["ident"])
        return FileResponse(records.safe_path(base, p["path"]))

    def report_file(request: Request) -> Any:
        return FileResponse(records.safe_path(reader.root / "reports", request.path_params["name"]))

    async def report(request: Request) -> Response:
        body = await request.json()
        ids = [str(i) for i in body.get("ids", []) if str(i).isalnum()][:200]
        if not ids:
            return JSONResponse({"error": "report: select at least one run or study"}, 400)
        name = "selection-" + hashlib.sha1(",".join(ids).encode()).hexdigest()[:10] + ".html"
        out = reader.root / "reports" / name
        out.parent.mkdir(exist_ok=True)
        cmd = [sys.executable, "-m", "trainlab", "report", *ids, "--out", str(out),
               "--store", str(reader.root), "--title", "trainlab ui selection"]  # fmt: skip
        done = await asyncio.to_thread(
            subprocess.run, cmd, capture_output=True, text=True, timeout=REPORT_TIMEOUT_S
        )
        if done.returncode != 0:
            lines = (done.stderr or "report failed").strip().splitlines()
            return JSONResponse({"error": lines[-1] if lines else "report failed"}, 400)
        return JSONResponse({"path": str(out), "url": f"/reports/{name}"})

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    async def plotly(request: Request) -> Response:
        path = plotly_js()
        if path is None:
            return PlainTextResponse("plotly is not installed", 404)
        return FileResponse(path, headers={"cache-control": "max-age=86400"})

    routes = [
        Route("/", index),
        Route("/vendor/plotly.min.js", plotly),
        Route("/api/fields", api(fields)),
        Route("/api/runs", api(runs)),
        Route("/api/curves", api(lambda r: reader.curves(ids_of(r), q(r, "metric", "val_acc")))),
        Route("/api/diff", api(lambda r: reader.diff(ids_of(r)))),
        Route("/api/groups", api(grouped)),
        Route("/api/studies", api(lambda r: records.studies(reader))),
        Route("/api/study/{ref}", api(lambda r: records.study(reader, r.path_params["ref"]))),
        Route("/api/search/{ref}", api(lambda r: records.search(reader, r.path_params["ref"]))),
        Route("/api/run/{ref}", api(lambda r: records.run(reader, r.path_params["ref"]))),
        Route("/api/report", report, methods=["POST"]),
        Route("/files/{kind}/{ident}/{path:path}", api(file)),
        Route("/reports/{name}", api(report_file)),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    middleware = [
        Middleware(Guard, hosts=hosts),
        Middleware(TrustedHostMiddleware, allowed_hosts=[h.rsplit(":", 1)[0] for h in hosts]),
    ]
    return Starlette(routes=routes, middleware=middleware)
