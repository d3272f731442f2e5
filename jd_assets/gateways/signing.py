"""Request signing for the JOS router and (by assumption) the Fengchao seller gateway.

JOS rule (docs/GATEWAYS.md §2, agreed by the public Java, C# and PHP SDKs): take every parameter except
``sign``, drop those whose value is empty, sort by key in byte order (so ``360buy_param_json`` comes
first), concatenate ``key + value`` without separators, wrap as ``secret + that + secret``, MD5 over the
UTF-8 bytes, upper-case hex. The signed ``360buy_param_json`` must be byte-identical to the one sent.

Fengchao's rule is not public (docs/GATEWAYS.md §3): the **assumption** is the same rule; ``SIGNERS`` is the
registry a Fengchao resource picks its signer from by name, so a different rule is one entry here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

Signer = Callable[[Mapping[str, str], str], str]


def jos_sign(params: Mapping[str, str], secret: str) -> str:
    """The JOS signature of ``params`` (``sign`` itself and empty values excluded) with ``secret``."""
    pairs = sorted(
        ((str(k), str(v)) for k, v in params.items() if k != "sign" and v is not None and str(v) != ""),
        key=lambda kv: kv[0].encode("utf-8"),
    )
    text = secret + "".join(k + v for k, v in pairs) + secret
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest().upper()


SIGNERS: dict[str, Signer] = {"jos_md5": jos_sign}
