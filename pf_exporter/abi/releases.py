"""What each supported release's pf has beyond OpenBSD 7.6's: the project's one table of it.

- ``bwspec64``: queue bandwidths are 64-bit (``struct pf_queue_bwspec``, 7.7+);
- ``immediate-limits``: DIOCSETLIMIT takes effect at once, not at DIOCXCOMMIT (7.8+);
- ``hfsc64``: HFSC service curves and class statistics are 64-bit (7.9+);
- ``limiters``: state and source limiters (``pf_statelim``, ``pf_sourcelim``, their requests and
  the rule fields that name them, 7.9+).
"""

from __future__ import annotations

SUPPORTED_RELEASES = ("7.6", "7.7", "7.8", "7.9", "current")

_ADDED = {
    "7.7": frozenset({"bwspec64"}),
    "7.8": frozenset({"immediate-limits"}),
    "7.9": frozenset({"hfsc64", "limiters"}),
}


def release_features(release: str) -> frozenset[str]:
    """The features of *release* (a supported release name; "current" has them all)."""
    if release not in SUPPORTED_RELEASES:
        raise KeyError(release)
    out: frozenset[str] = frozenset()
    for rel in SUPPORTED_RELEASES[1:SUPPORTED_RELEASES.index(release) + 1]:
        out |= _ADDED.get(rel, frozenset())
    return out
