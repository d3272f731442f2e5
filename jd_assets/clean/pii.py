"""Buyer PII never leaves ``raw``: what the clean layer keeps of a buyer is a keyed hash (HMAC-SHA256).

The key comes from ``JD_PII_KEY`` through :class:`PiiKey`. The hash is computed inside DuckDB, in the same
statement that builds ``clean.orders``: the padded key's inner and outer pads are passed as statement
parameters, so the key is never written to the database, a log, or metadata (parameters are not stored).
A keyed hash, unlike a plain SHA-256, cannot be reversed by hashing every phone number of a province.
"""

from __future__ import annotations

import hashlib

import dagster as dg
from pydantic import Field

from jd_assets.errors import ConfigError

BLOCK = 64  # SHA-256 block size in bytes (RFC 2104)


class PiiKey(dg.ConfigurableResource):
    """The secret key (``JD_PII_KEY``) of the keyed hashes that stand for buyers and consignees."""

    key: str = Field(description="HMAC key for buyer_key / consignee_key (env JD_PII_KEY); never logged.")

    def hmac_params(self) -> dict[str, str]:
        """The HMAC pads as hex, for :func:`hmac_sql`'s ``$pii_ipad`` / ``$pii_opad`` parameters."""
        if not self.key:
            raise ConfigError(
                "JD_PII_KEY is empty: set it to a secret that keys the buyer and consignee hashes"
            )
        raw = self.key.encode()
        if len(raw) > BLOCK:
            raw = hashlib.sha256(raw).digest()
        padded = raw.ljust(BLOCK, b"\0")
        return {
            "pii_ipad": bytes(b ^ 0x36 for b in padded).hex(),
            "pii_opad": bytes(b ^ 0x5C for b in padded).hex(),
        }


def hmac_sql(expr: str) -> str:
    """SQL: ``hex(HMAC-SHA256(key, utf8(expr)))``, as Python's ``hmac.new(key, ..., sha256).hexdigest()``.

    NULL in, NULL out. Needs the parameters of :meth:`PiiKey.hmac_params`.
    """
    return f"sha256(unhex($pii_opad) || unhex(sha256(unhex($pii_ipad) || encode({expr}))))"
