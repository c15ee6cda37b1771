"""The bounds of every number a command line may give: beyond them a run is to no purpose
(shorter than one interval, more users than descriptors allow, a rate no engine sends)."""

MIN_DURATION_S = 1.0  # one interval: a shorter run measures nothing
MAX_DURATION_S = 7 * 24 * 3600.0
MAX_USERS = 100_000
MAX_SPAWN_RATE = 10_000.0  # users started per second
MAX_RATE = 100_000.0  # open loop, requests per second: beyond what one engine can send
MIN_TIMEOUT_S = 0.001  # the engine's timers count milliseconds
MAX_SECONDS = 3600.0  # think time, timeout, drain
MAX_THREADS = 10_000
MAX_ENGINES = 1024  # engine processes (one a core): a cluster of 1,024 cores
