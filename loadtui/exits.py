"""Exit codes, the same for every command (README: "Exit codes")."""

OK = 0  # done (verdicts may still be critical)
FAILED = 1  # the work could not be done, or lost its target, or a file could not be written
USAGE = 2  # bad usage or bad input: one line on stderr, nothing started
BREACHED = 3  # done, but a --threshold was breached or a verdict matched --fail-on
INTERRUPTED = 130  # Ctrl-C or SIGTERM: what was measured is kept


class UsageError(Exception):
    """Bad usage or bad input found after parsing (an option, a file, an output): reported
    as one line, exit code ``USAGE``, before any work starts."""
