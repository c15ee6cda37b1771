"""Serve a small app written by a test with a real server process: uvicorn (one or N workers)
or gunicorn with uvicorn's worker, on a free loopback port; and the apps several tests serve,
each of which counts what it received (the referee), with the function that asks it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import psutil

from loadtui.run.rundoc import RunDocument
from tests.helpers import wait_for

MODULE = "app_under_test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServedApp:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def processes(self) -> list[psutil.Process]:
        """The server process and its descendants (the workers)."""
        root = psutil.Process(self.proc.pid)
        return [root, *root.children(recursive=True)]

    def listening_ports(self, process: psutil.Process) -> set[int]:
        return {
            conn.laddr.port
            for conn in process.net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN
        }


Server = Literal["uvicorn", "gunicorn", "gunicorn --preload"]


def _command(server: Server, port: int, workers: int, app_dir: Path) -> list[str]:
    if server == "uvicorn":
        command = [sys.executable, "-m", "uvicorn", f"{MODULE}:app", "--app-dir", str(app_dir)]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        command += ["--timeout-graceful-shutdown", "1"]
        return command + (["--workers", str(workers)] if workers > 1 else [])
    command = [sys.executable, "-m", "gunicorn", "-k", "uvicorn.workers.UvicornWorker"]
    command += ["-w", str(workers), "-b", f"127.0.0.1:{port}", "--chdir", str(app_dir)]
    command += ["--preload"] if server.endswith("--preload") else []
    return [*command, "--graceful-timeout", "1", "--log-level", "warning", f"{MODULE}:app"]


def ready(url: str, path: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url + path, timeout=1.0).status_code == 200
    return False


@contextlib.contextmanager
def serve_app(
    source: str,
    tmp_path: Path,
    *,
    server: Server = "uvicorn",
    workers: int = 1,
    env: dict[str, str] | None = None,
    ready_path: str = "/heartbeat",
    port: int | None = None,
) -> Iterator[ServedApp]:
    """Write ``source`` as a module, serve its ``app``; stopped (the whole group) afterwards."""
    (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent(source))
    port = port or free_port()
    stderr_path = tmp_path / "server.stderr"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            _command(server, port, workers, tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=tmp_path,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    app = ServedApp(proc, f"http://127.0.0.1:{port}", port, stderr_path)
    try:
        if not wait_for(lambda: ready(app.url, ready_path), timeout=30, interval=0.2):
            raise RuntimeError(f"{server} did not serve {ready_path}: {app.stderr()[-2000:]}")
        yield app
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # workers left behind, if any
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


# ---- apps several tests serve ----------------------------------------------------------------
SHOP = """
    from fastapi import Depends, FastAPI, Header, HTTPException
    from pydantic import BaseModel

    app = FastAPI()
    accepted = {"orders": 0, "items": {}, "bodies": []}


    class Order(BaseModel):
        item: str
        qty: int


    def bearer(authorization: str = Header("")):
        if authorization != "Bearer s3cret":
            raise HTTPException(401)


    @app.post("/orders", status_code=201)
    async def create(order: Order, _=Depends(bearer)):
        accepted["orders"] += 1
        accepted["bodies"].append(order.item)
        return order


    @app.get("/items/{item_id}")
    async def item(item_id: int):
        accepted["items"][item_id] = accepted["items"].get(item_id, 0) + 1
        return {"id": item_id}


    @app.get("/count")
    async def count():
        return accepted
"""


def accepted(url: str, ca: Path | None = None) -> dict:
    """What SHOP accepted: orders (and their items), and requests for each item id."""
    verify = ssl.create_default_context(cafile=str(ca)) if ca else True
    return httpx.get(f"{url}/count", timeout=5, verify=verify).json()


# As the FastAPI full-stack template: the document at /api/v1/openapi.json and every route under
# /api/v1 (the document's paths carry the prefix), a uuid path parameter, a date query parameter,
# an OAuth2 form login, an upload (UploadFile and a Form field), instrument(app) at the server's
# root. Counts what it accepted and what it refused as invalid (422).
TEMPLATE = """
    import datetime
    import uuid
    from typing import Annotated

    from fastapi import APIRouter, Depends, FastAPI, Form, Query, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from fastapi.security import OAuth2PasswordRequestForm

    from loadtui import instrument

    app = FastAPI(openapi_url="/api/v1/openapi.json")
    instrument(app)
    router = APIRouter(prefix="/api/v1")
    counted = {"items": {}, "logins": {}, "uploads": {}, "invalid": 0}


    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        counted["invalid"] += 1
        return JSONResponse({"detail": "invalid"}, status_code=422)


    @router.get("/items/{item_id}")
    async def read_item(
        item_id: uuid.UUID, day: datetime.date, limit: Annotated[int, Query(ge=5, le=9)] = 5
    ):
        counted["items"][str(item_id)] = counted["items"].get(str(item_id), 0) + 1
        return {"id": str(item_id), "day": day.isoformat(), "limit": limit}


    @router.post("/login/access-token")
    def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]):
        counted["logins"][form.username] = counted["logins"].get(form.username, 0) + 1
        return {"access_token": "t", "token_type": "bearer"}


    @router.post("/files/")
    async def upload(file: UploadFile, note: Annotated[str, Form()]):
        key = f"{file.filename}:{note}:{len(await file.read())}"
        counted["uploads"][key] = counted["uploads"].get(key, 0) + 1
        return {"filename": file.filename}


    app.include_router(router)


    @app.get("/count", include_in_schema=False)
    async def count():
        return counted
"""


def template_counts(url: str) -> dict:
    """What TEMPLATE accepted (items by id, logins by username, uploads by filename:note:size)
    and refused as invalid."""
    return httpx.get(f"{url}/count", timeout=5).json()


COUNTER = """
    from fastapi import FastAPI

    app = FastAPI()
    hits = 0
    numbers = []  # the n of every request to /hit/{n}, in the order they arrived


    @app.get("/hit")
    async def hit():
        global hits
        hits += 1
        return {"ok": True}


    @app.get("/hit/{n}")
    async def hit_n(n: int):
        global hits
        hits += 1
        numbers.append(n)
        return {"ok": True}


    @app.get("/count")
    async def count():
        return {"hits": hits, "numbers": numbers}
"""


def received(url: str) -> dict:
    """What COUNTER received: every request to /hit or /hit/{n} (``hits``), and each n."""
    return httpx.get(f"{url}/count", timeout=5).json()


def assert_one_schedule(doc: RunDocument, numbers: list[int], due: int) -> None:
    """An open-loop run that asked COUNTER for /hit/{n}, request i of the one schedule taking
    row n = i (whichever engine sent it; engine k of N sends requests k, k + N, ...), read from
    what loadtui recorded and what the server counted (``numbers``): each request of the
    schedule was sent once, each engine sent its share in order with none skipped, the server
    received the requests loadtui recorded and at most those in flight at the end besides, no
    more than the ``due`` requests due by the end were answered, and each of those was sent or
    is counted as not sent."""
    engines = doc.generator.engines
    last = doc.timeline[-1]
    assert doc.summary.errors == 0 and last.engines == len(engines)  # all ended at the duration
    assert len(set(numbers)) == len(numbers), "two requests took one intended time"
    for k, engine in enumerate(engines):
        ours = sorted(n for n in numbers if n % len(engines) == k)
        expected = list(range(k, k + len(engines) * len(ours), len(engines)))
        assert ours == expected, f"engine {k + 1} skipped an intended time"
        assert engine.requests <= len(ours) <= engine.requests + last.in_flight
    sent = doc.summary.requests + last.in_flight
    assert doc.summary.requests <= len(numbers) <= sent
    assert doc.summary.requests <= due <= sent + (doc.summary.unsent or 0)


ITEMS = """
    import time

    from fastapi import Depends, FastAPI
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from loadtui import instrument

    # a sqlite file behind a pool as small as a real database's: two connections, none beyond,
    # and a wait for one long enough to outlast a test's run (then QueuePool raises: a 500)
    engine = create_engine(
        "sqlite:///items.db",
        pool_size=2,
        max_overflow=0,
        pool_timeout=15,
        connect_args={"check_same_thread": False},
    )
    with engine.begin() as db:
        db.execute(text("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT)"))
        db.execute(text("INSERT INTO items (name) VALUES ('tea'), ('cake')"))

    app = FastAPI()
    instrument(app)
    answered = {"items": 0, "listed": 0, "slow": 0}


    def get_user_session():
        # as the FastAPI template's session and current user: the user's row read and the
        # token checked, in a thread of the pool; from here the session holds its connection
        # until the request ends
        with Session(engine) as session:
            session.execute(text("SELECT 1"))
            time.sleep(0.3)
            yield session


    def get_session():
        with Session(engine) as session:
            yield session


    @app.get("/items")
    def read_items(session: Session = Depends(get_user_session)):
        # a second thread of the pool, needed while the connection above is held
        rows = session.execute(text("SELECT id, name FROM items")).mappings().all()
        answered["items"] += 1
        return rows


    @app.get("/listed")
    def listed(session: Session = Depends(get_session)):
        # the connection taken and used in one step: the pool makes it wait, never deadlock
        rows = session.execute(text("SELECT id, name FROM items")).mappings().all()
        answered["listed"] += 1
        return rows


    @app.get("/slow")
    def slow():
        time.sleep(3)
        answered["slow"] += 1
        return {"slow": True}


    @app.get("/count")
    async def count():
        return answered
"""


# The realistic mistake: a sync SQLAlchemy query inside `async def`, on the loop.
SYNC_QUERY_ON_THE_LOOP = """
    from fastapi import FastAPI
    from sqlalchemy import create_engine, text
    from loadtui import instrument

    engine = create_engine("sqlite:///shop.db")
    app = FastAPI()
    instrument(app)
    SLOW = "with recursive n(i) as (select 1 union all select i + 1 from n where i < 400000) "

    @app.get("/items")
    async def read_items_async_copy():
        with engine.connect() as connection:
            return {"rows": connection.execute(text(SLOW + "select count(*) from n")).scalar()}
"""


# An async route that blocks its loop for ``seconds`` in compress_report (time.sleep, line 9)
# and answers when it began (the app's wall clock); /ok answers at once.
BLOCKING = """
    import time
    from fastapi import FastAPI
    from loadtui import instrument

    app = FastAPI()

    def compress_report(seconds):
        time.sleep(seconds)

    @app.get("/ok")
    async def ok():
        return {}

    @app.get("/block")
    async def block(seconds: float):
        began = time.time()
        compress_report(seconds)  # blocks the event loop
        return {"began": began}

    ins = instrument(app)
"""


# ---- journeys: a login per user, a session cookie ----------------------------------------------
LOGIN_APP = """
    import secrets

    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

    app = FastAPI()
    tokens, items = {}, {}
    counts = {"logins": 0, "authorized": 0, "unauthorized": 0, "read": 0, "missing": 0}
    ports = {"login": set(), "me": set()}  # the client ports (connections) each came on
    bearer = OAuth2PasswordBearer(tokenUrl="login")


    @app.post("/login")
    async def login(request: Request, form: OAuth2PasswordRequestForm = Depends()):
        if form.password != "pw":
            raise HTTPException(400, "wrong password")
        counts["logins"] += 1
        ports["login"].add(request.client.port)
        token = secrets.token_hex(8)
        tokens[token] = form.username
        return {"access_token": token, "token_type": "bearer"}


    def user(token: str = Depends(bearer)):
        if token not in tokens:
            counts["unauthorized"] += 1
            raise HTTPException(401)
        return tokens[token]


    @app.get("/me")
    async def me(request: Request, who: str = Depends(user)):
        counts["authorized"] += 1
        ports["me"].add(request.client.port)
        return {"user": who}


    @app.post("/items", status_code=201)
    async def create(who: str = Depends(user)):
        ident = secrets.token_hex(4)
        items[ident] = who
        return {"items": [{"id": ident}]}


    @app.get("/items/{ident}")
    async def read(ident: str, who: str = Depends(user)):
        if items.get(ident) != who:
            counts["missing"] += 1
            raise HTTPException(404)
        counts["read"] += 1
        return {"id": ident}


    @app.get("/count")
    async def count():
        return {**counts, "ports": {name: sorted(found) for name, found in ports.items()}}
"""

SESSION_APP = """
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    counts = {"sessions": 0, "known": 0, "unknown": 0}


    async def start(request):
        counts["sessions"] += 1
        request.session["user"] = counts["sessions"]
        return JSONResponse({"ok": True})


    async def me(request):
        if "user" not in request.session:
            counts["unknown"] += 1
            return JSONResponse({"detail": "no session"}, status_code=401)
        counts["known"] += 1
        return JSONResponse({"user": request.session["user"]})


    async def count(request):
        return JSONResponse(counts)


    app = Starlette(
        routes=[Route("/start", start, methods=["POST"]), Route("/me", me), Route("/count", count)],
        middleware=[Middleware(SessionMiddleware, secret_key="test")],
    )
"""

# a scenario's login to LOGIN_APP (format it with the password), and the token it extracts
LOGIN = """
[[setup]]
name = "login"
method = "POST"
path = "/login"
form = {{ username = "ann", password = "{password}" }}
extract = {{ token = "json:access_token" }}
"""
BEARER = 'headers = { Authorization = "Bearer {{token}}" }\n'


def counted(url: str) -> dict[str, Any]:
    """What LOGIN_APP or SESSION_APP counted."""
    return httpx.get(f"{url}/count", timeout=5).json()
