"""The seed's Locust user, for side-by-side runs against the same server.

    LOADTUI_ROUTE=/ping LOADTUI_USER=fast locust -f benchmarks/locustfile.py ...

LOADTUI_USER: "http" (HttpUser, requests; the seed's) or "fast" (FastHttpUser).
LOADTUI_THINK: "0" for no think time (cost runs); default is the seed's 0.1-0.5 s.
LOADTUI_METHOD, LOADTUI_HEADERS (JSON object), LOADTUI_BODY: the request's shape (default a GET).
LOADTUI_LOGIN: a journey: each user first POSTs this form body to /login, once, and sends
the ``access_token`` of its JSON answer as ``Authorization: Bearer ...`` on every request.
LOADTUI_STREAM: "1" to read each response as a stream, line by line, counting SSE data lines
(as a user timing a stream would have to).
"""

import json
import os

from locust import FastHttpUser, HttpUser, between, constant, task

ROUTE = os.environ.get("LOADTUI_ROUTE", "/ping")
METHOD = os.environ.get("LOADTUI_METHOD", "GET")
HEADERS = json.loads(os.environ.get("LOADTUI_HEADERS", "{}"))
BODY = os.environ.get("LOADTUI_BODY")
LOGIN = os.environ.get("LOADTUI_LOGIN")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
WAIT = constant(0) if os.environ.get("LOADTUI_THINK") == "0" else between(0.1, 0.5)
BASE = FastHttpUser if os.environ.get("LOADTUI_USER", "http") == "fast" else HttpUser
STREAM = os.environ.get("LOADTUI_STREAM") == "1"


class SeedUser(BASE):
    wait_time = WAIT
    headers = HEADERS

    def on_start(self) -> None:
        if LOGIN is not None:
            token = self.client.post("/login", data=LOGIN, headers=FORM).json()["access_token"]
            self.headers = {**HEADERS, "Authorization": f"Bearer {token}"}

    events = 0

    @task
    def hit(self) -> None:
        if LOGIN is not None:
            self.client.request(METHOD, ROUTE, headers=self.headers, data=BODY)
        elif STREAM:
            for line in self.client.iter_lines(ROUTE):
                if line.startswith("data:"):
                    self.events += 1
        elif METHOD == "GET" and not HEADERS:
            self.client.get(ROUTE)
        else:
            self.client.request(METHOD, ROUTE, headers=HEADERS, data=BODY)
