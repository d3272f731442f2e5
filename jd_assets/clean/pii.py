"""Buyer PII never leaves ``raw``: what the clean layer keeps of a buyer is a keyed hash (HMAC-SHA256).

The key comes from ``JD_PII_KEY`` through :class:`PiiKey`. The hash is computed inside DuckDB, in the same
statement that builds ``clean.orders``: the padded key's inner and outer pads are passed as statement
parameters, so the key is never written to the database, a log, or metadata (parameters are not stored).
A keyed hash, unlike a plain SHA-256, cannot be reversed by hashing every phone number of a province.

A key changed by accident (another secret store, a trailing space) would silently give every buyer a new
pseudonym. So the build of ``clean.orders`` stores the key's *fingerprint* (an HMAC of a fixed label,
never the key) in ``meta.pii_key_fingerprint`` (state, not a derived table: neither rebuilt nor
published) and fails when the key differs from the stored one, unless a rotation is asked for by naming
the stored fingerprint (``JD_PII_KEY_ROTATE_FROM``): such a request matches one rotation only, so a
variable left set does not let a later change through. Keys shorter than 16 bytes and the README's
placeholder are refused.
"""

from __future__ import annotations

import hashlib
import hmac

import dagster as dg
import duckdb
from pydantic import Field

from jd_assets.errors import ConfigError

BLOCK = 64  # SHA-256 block size in bytes (RFC 2104)
KEY_ENV = "JD_PII_KEY"
ROTATE_ENV = "JD_PII_KEY_ROTATE_FROM"
MIN_KEY_BYTES = 16
#: Keys documented as examples: a deployment that copied one has no secret at all.
PLACEHOLDER_KEYS = frozenset({"choose-a-secret", "change-me", "changeme", "secret"})
FINGERPRINT_TABLE = "meta.pii_key_fingerprint"
_FINGERPRINT_LABEL = b"jd_assets PII key fingerprint v1"

log = dg.get_dagster_logger("jd_assets.pii")


class PiiKey(dg.ConfigurableResource):
    """The secret key (``JD_PII_KEY``) of the keyed hashes that stand for buyers and consignees."""

    key: str = Field(description="HMAC key for buyer_key / consignee_key (env JD_PII_KEY); never logged.")
    rotate_from: str = Field(
        default="",
        description=(
            f"Fingerprint of the key being replaced (env {ROTATE_ENV}): lets one build of clean.orders "
            "accept a new JD_PII_KEY; every buyer pseudonym changes then."
        ),
    )

    def _key_bytes(self) -> bytes:
        """The key, refused when it cannot be a secret: empty, shorter than 16 bytes, a placeholder."""
        if not self.key:
            raise ConfigError(
                f"{KEY_ENV} is empty: set it to a secret that keys the buyer and consignee hashes"
            )
        if self.key.strip().lower() in PLACEHOLDER_KEYS:
            raise ConfigError(f"{KEY_ENV} is the documentation's placeholder: set a secret of your own")
        raw = self.key.encode()
        if len(raw) < MIN_KEY_BYTES:
            raise ConfigError(
                f"{KEY_ENV} is {len(raw)} bytes: use at least {MIN_KEY_BYTES} (e.g. openssl rand -hex 32)"
            )
        return raw

    def fingerprint(self) -> str:
        """What identifies the key without revealing it: 16 hex digits of HMAC-SHA256(key, a fixed label)."""
        return hmac.new(self._key_bytes(), _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]

    def hmac_params(self) -> dict[str, str]:
        """The HMAC pads as hex, for :func:`hmac_sql`'s ``$pii_ipad`` / ``$pii_opad`` parameters."""
        raw = self._key_bytes()
        if len(raw) > BLOCK:
            raw = hashlib.sha256(raw).digest()
        padded = raw.ljust(BLOCK, b"\0")
        return {
            "pii_ipad": bytes(b ^ 0x36 for b in padded).hex(),
            "pii_opad": bytes(b ^ 0x5C for b in padded).hex(),
        }

    def hold_to_stored_key(self, con: duckdb.DuckDBPyConnection) -> dict[str, str]:
        """Inside the transaction that rebuilds ``clean.orders``: the key must be the one stored, or a
        rotation from the stored one must be asked for; the first build stores it. Returns metadata."""
        current = self.fingerprint()
        con.execute("CREATE SCHEMA IF NOT EXISTS meta")
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {FINGERPRINT_TABLE} (fingerprint VARCHAR NOT NULL, "
            "recorded_at TIMESTAMPTZ NOT NULL, replaced VARCHAR)"
        )
        row = con.execute(f"SELECT fingerprint FROM {FINGERPRINT_TABLE} LIMIT 1").fetchone()
        stored = row[0] if row else None
        if stored == current:
            return {"pii_key_fingerprint": current, "pii_key": "unchanged"}
        if stored is not None and self.rotate_from.strip() != stored:
            hint = " (it has leading or trailing white space)" if self.key != self.key.strip() else ""
            raise ConfigError(
                f"{KEY_ENV} is not the key clean.orders was built with (fingerprint {current}{hint}, stored "
                f"{stored}): every buyer_key and consignee_key would change. Restore the previous key, or, "
                f"to rotate on purpose, set {ROTATE_ENV}={stored} for one build (README: Security)"
            )
        con.execute(f"DELETE FROM {FINGERPRINT_TABLE}")
        con.execute(f"INSERT INTO {FINGERPRINT_TABLE} VALUES (?, now(), ?)", [current, stored])
        if stored is not None:
            log.warning(
                f"{KEY_ENV} rotated from fingerprint {stored} to {current}: every buyer pseudonym changes"
            )
        return {"pii_key_fingerprint": current, "pii_key": "rotated" if stored else "recorded"}


def hmac_sql(expr: str) -> str:
    """SQL: ``hex(HMAC-SHA256(key, utf8(expr)))``, as Python's ``hmac.new(key, ..., sha256).hexdigest()``.

    NULL in, NULL out. Needs the parameters of :meth:`PiiKey.hmac_params`.
    """
    return f"sha256(unhex($pii_opad) || unhex(sha256(unhex($pii_ipad) || encode({expr}))))"
