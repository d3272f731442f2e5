"""Local sandbox: a real HTTP server on 127.0.0.1 emulating JD's token gateway (comments, details),
JOS router (orders, tracks) and seller gateway (findWareById) over a deterministic synthetic catalog.

It is for tests and the demo; the asset code never imports it. See README.md in this folder.
"""

from .config import DEFAULT_NOW, SCALES, Faults, SandboxConfig, today_start
from .server import Sandbox, env_for
from .signing import sign

__all__ = ["DEFAULT_NOW", "SCALES", "Faults", "Sandbox", "SandboxConfig", "env_for", "sign", "today_start"]
