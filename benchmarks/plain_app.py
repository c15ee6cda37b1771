"""A plain FastAPI app, no instrumentation: one ``def`` route (run on the thread pool, as most
FastAPI code is written), the slower of the benchmark's FastAPI targets.

    uvicorn benchmarks.plain_app:app --port 18920
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
def ping() -> dict[str, str]:
    return {"pong": "ok"}
