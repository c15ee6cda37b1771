"""What `loadtui compare` costs on two 30-minute runs (issue 24: under 1 s).

    .venv/bin/python -m benchmarks.compare_cost [--minutes 30] [--rate 1000] [--repeat 5]

Two run files of ``--minutes`` each are written from run models fed second by second (as a
runner feeds them: each second's HDR histogram, log-normal latencies around 100 ms, the new run
3 % slower), then `loadtui compare BASE NEW` is timed end to end as a user runs it (a process
of its own: start-up, imports, loading and checking both files, the bootstraps, the table),
and in this process by part: loading a file, bootstrapping it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadtui.report.compare_boot import REPLICATES, bootstrap
from loadtui.run import document, runfile
from tests import synthetic


def write_run(path: Path, seconds: int, rate: int, scale_ms: float, seed: int) -> None:
    rng = random.Random(seed)
    per_second = [
        synthetic.snapshot(s, [rng.lognormvariate(0.0, 0.4) * scale_ms for _ in range(rate)])
        for s in range(1, seconds + 1)
    ]
    runfile.write(path, document.build(synthetic.model(seconds, per_second=per_second)))


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"compare failed ({result.returncode}): {result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=1000, help="requests a second")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    seconds = int(args.minutes * 60)
    with tempfile.TemporaryDirectory() as directory:
        base, new = Path(directory, "base.json"), Path(directory, "new.json")
        write_run(base, seconds, args.rate, 100.0, seed=1)
        write_run(new, seconds, args.rate, 103.0, seed=2)
        size = (base.stat().st_size + new.stat().st_size) / 2 / 1e6
        print(f"two runs of {seconds} s at {args.rate} req/s, {size:.1f} MB each")
        command = [sys.executable, "-m", "loadtui", "compare", str(base), str(new)]
        walls = [timed(command) for _ in range(args.repeat)]
        print(
            f"loadtui compare, end to end: median {statistics.median(walls):.3f} s, "
            f"min {min(walls):.3f} s, max {max(walls):.3f} s ({args.repeat} runs)"
        )
        loads, boots = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            doc = runfile.load(base)
            loads.append(time.perf_counter() - started)
            started = time.perf_counter()
            bootstrap(doc, 0)
            boots.append(time.perf_counter() - started)
        print(
            f"per run: load and check {statistics.median(loads):.3f} s, "
            f"bootstrap ({REPLICATES} replicates) {statistics.median(boots):.3f} s (medians)"
        )


if __name__ == "__main__":
    main()
