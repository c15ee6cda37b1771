"""loadtui: watch what FastAPI's sync routes, async routes, thread pool and background tasks
really do under load."""

__version__ = "0.1.0"
