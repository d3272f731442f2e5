"""The signing rule the sandbox verifies (docs/GATEWAYS.md §2; Fengchao assumes the same rule, §3).

Every parameter except ``sign``, empty values dropped, keys sorted by their bytes, ``key + value``
concatenated, wrapped as ``secret + ... + secret``, MD5 over UTF-8, upper-case hex. Written here on its
own (not imported from the clients) so that the sandbox is an independent check of the clients.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


def sign(params: Mapping[str, object], secret: str) -> str:
    items = sorted(
        ((str(k), str(v)) for k, v in params.items() if k != "sign" and v is not None and str(v) != ""),
        key=lambda kv: kv[0].encode(),
    )
    text = secret + "".join(k + v for k, v in items) + secret
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def verify(params: Mapping[str, object], secret: str) -> bool:
    """True when ``sign`` is present and equals the expected upper-case hex exactly."""
    given = str(params.get("sign", ""))
    return given != "" and hmac.compare_digest(given.encode(), sign(params, secret).encode())
