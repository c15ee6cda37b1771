"""loadtui.report.compare: the bootstrap's words on synthetic run documents (no process, no
socket): runs drawn from one distribution are "same" in at least 95 % of trials, a slower one
is "slower" in nearly all, and the bootstrap is reproducible."""

from __future__ import annotations

import itertools
import random

from loadtui.report import compare
from loadtui.report.compare_boot import Boot, block_length, bootstrap
from loadtui.run import document
from loadtui.run.rundoc import RunDocument
from tests import synthetic

TRIALS = 200
REPLICATES = 200  # per run in these trials (the command makes 500)


def run_document(
    rng: random.Random, scale_ms: float, seconds: int = 12, rate: int = 40
) -> RunDocument:
    """A run whose latencies are log-normal around ``scale_ms``, ``rate`` requests a second."""
    per_second = [
        synthetic.snapshot(s, [rng.lognormvariate(0.0, 0.3) * scale_ms for _ in range(rate)])
        for s in range(1, seconds + 1)
    ]
    return document.build(synthetic.model(seconds, per_second=per_second))


def boot(doc: RunDocument, seed: int) -> Boot:
    return bootstrap(doc, seed, REPLICATES)


def overall(base: RunDocument, new: RunDocument, seed: int) -> str:
    return compare.overall(compare.changes(boot(base, seed), boot(new, seed + 1)))


def test_runs_from_one_distribution_are_the_same_in_95_percent_of_trials():
    rng = random.Random(24)
    boots = [boot(run_document(rng, 100.0), seed) for seed in range(TRIALS + 1)]
    # each run is compared with the next: 200 comparisons of 201 independent runs
    words = [compare.overall(compare.changes(a, b)) for a, b in itertools.pairwise(boots)]
    assert words.count("same") >= 0.95 * TRIALS, words.count("same")


def test_a_slower_distribution_is_slower_in_nearly_all_trials():
    rng = random.Random(25)
    words = [overall(run_document(rng, 100.0), run_document(rng, 120.0), seed=i) for i in range(40)]
    assert words.count("slower") >= 38, words


def test_the_bootstrap_is_reproducible_and_its_seed_matters():
    doc = run_document(random.Random(1), 100.0)
    assert boot(doc, 7).replicates == boot(doc, 7).replicates
    assert boot(doc, 7).replicates["p99"] != boot(doc, 8).replicates["p99"]


def test_replicates_centre_on_the_runs_own_figures():
    doc = run_document(random.Random(2), 100.0, seconds=30, rate=100)
    found = boot(doc, 0)
    for figure in ("p50", "p90", "p99", "mean"):
        ordered = sorted(found.replicates[figure])
        middle = ordered[len(ordered) // 2]
        assert abs(middle - found.point[figure]) / found.point[figure] < 0.02, figure
    assert set(found.replicates["rps"]) == {100.0}  # every second had 100 requests


def test_the_interval_and_the_word():
    def change(figure: str, base: float, new: float, low: float, high: float) -> str:
        return compare.word(figure, base, new - base, low, high)

    assert change("p99", 100.0, 150.0, 40.0, 60.0) == "slower"
    assert change("p99", 100.0, 150.0, -1.0, 60.0) == "same"  # the interval holds 0
    assert change("p99", 100.0, 102.0, 1.0, 3.0) == "same"  # below the 3 % floor
    assert change("p50", 10.0, 10.4, 0.2, 0.6) == "same"  # below the 0.5 ms floor
    assert change("rps", 100.0, 80.0, -25.0, -15.0) == "slower"  # fewer req/s
    assert change("rps", 100.0, 120.0, 15.0, 25.0) == "faster"
    assert change("errors", 1.0, 1.3, 0.1, 0.5) == "same"  # below 0.5 points
    assert change("errors", 0.0, 5.0, 3.0, 7.0) == "slower"


def test_long_runs_are_resampled_in_blocks_of_at_most_200():
    assert block_length(3) == 1
    assert block_length(200) == 1
    assert block_length(201) == 2
    assert block_length(1800) == 9
