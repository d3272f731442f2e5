"""Deterministic randomness: every value the sandbox invents is a pure function of (seed, kind, index).

No global RNG state is used anywhere, so the same seed gives the same bytes whatever order requests
arrive in, and any record can be generated on its own (a page of comments without its neighbours).
"""

from __future__ import annotations

import hashlib
import random

_SEP = "\x1f"


def h64(*parts: object) -> int:
    """A stable 64-bit hash of the parts (BLAKE2b; independent of PYTHONHASHSEED)."""
    key = _SEP.join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def unit(*parts: object) -> float:
    """A stable uniform float in [0, 1) for the parts."""
    return h64(*parts) / 18446744073709551616.0


def rng(*parts: object) -> random.Random:
    """A private ``random.Random`` seeded from the parts (int seeding is stable across Python versions)."""
    return random.Random(h64(*parts))


def hex_digest(n_chars: int, *parts: object) -> str:
    """``n_chars`` lowercase hex characters derived from the parts."""
    key = _SEP.join(map(str, parts)).encode()
    return hashlib.blake2b(key, digest_size=(n_chars + 1) // 2).hexdigest()[:n_chars]
