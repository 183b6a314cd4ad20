"""The two reads a benchmark's bare walk of sysfs makes, with nothing of the collection around them: the
baseline that tests/bench measures the readers against."""

import os


def read_text(path):
    """A sysfs attribute's text, stripped; None when it cannot be read."""
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def read_link(path):
    """Where a link points; None when it is no link."""
    try:
        return os.readlink(path)
    except OSError:
        return None
