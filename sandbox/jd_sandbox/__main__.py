"""Command line: ``python -m jd_sandbox [serve] --port N --seed S ...`` and ``... env --port N``.

``serve`` (the default) prints one line with the URL when ready and exits 0 on SIGTERM/SIGINT;
``env`` prints ``export JD_...='...'`` lines for ``eval "$(python -m jd_sandbox env --port N)"``.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from datetime import datetime

from . import config as c
from .config import BEIJING, SCALES, Faults, SandboxConfig, today_start
from .server import CLIENT_RATES, Sandbox, env_for

CREDENTIALS = f"""default demo credentials (override with the flags below):
  token gateway   JD_JUSTONE_TOKEN={c.DEFAULT_TOKEN}
  JOS router      JD_JOS_APP_KEY={c.DEFAULT_JOS_APP_KEY}  JD_JOS_APP_SECRET={c.DEFAULT_JOS_APP_SECRET}
                  JD_JOS_ACCESS_TOKEN={c.DEFAULT_JOS_ACCESS_TOKEN}
  seller gateway  JD_FENGCHAO_APP_ID={c.DEFAULT_FENGCHAO_APP_ID}
                  JD_FENGCHAO_APP_SECRET={c.DEFAULT_FENGCHAO_APP_SECRET}
                  JD_FENGCHAO_SELLER_NICK={c.DEFAULT_FENGCHAO_SELLER_NICK}
paths: /api/jd/get-item-comments/v1, /api/jd/get-item-detail/v2, /routerjson, /fengchao/findWareById,
admin under /_sandbox/ (now, advance, counters, faults, force_code, fail_item, truth/...).
example: eval "$(python -m jd_sandbox env --port 8765)"; python -m jd_sandbox serve --port 8765
"""

FAULT_FLAGS = {
    "code_301": "--fault-301",
    "code_302": "--fault-302",
    "code_500": "--fault-500",
    "code_503": "--fault-503",
    "http_5xx": "--fault-http-5xx",
    "timeout": "--fault-timeout",
    "malformed": "--fault-malformed",
}


def _credentials(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("credentials")
    g.add_argument("--token", default=c.DEFAULT_TOKEN)
    g.add_argument("--jos-app-key", default=c.DEFAULT_JOS_APP_KEY)
    g.add_argument("--jos-app-secret", default=c.DEFAULT_JOS_APP_SECRET)
    g.add_argument("--jos-access-token", default=c.DEFAULT_JOS_ACCESS_TOKEN)
    g.add_argument("--fengchao-app-id", default=c.DEFAULT_FENGCHAO_APP_ID)
    g.add_argument("--fengchao-app-secret", default=c.DEFAULT_FENGCHAO_APP_SECRET)
    g.add_argument("--fengchao-seller-nick", default=c.DEFAULT_FENGCHAO_SELLER_NICK)


def _now(text: str) -> datetime:
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=BEIJING)


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m jd_sandbox",
        description="Local JD sandbox: token gateway, JOS router and seller gateway on 127.0.0.1.",
        epilog=CREDENTIALS,
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the sandbox (default)", epilog=CREDENTIALS, formatter_class=fmt)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--scale", choices=sorted(SCALES), default="demo")
    serve.add_argument(
        "--now",
        type=_now,
        help="simulated now, ISO 8601 (default: the start of today in Beijing, so the catalog's history is "
        "the weeks before today; 2026-03-10T12:00+08:00 gives the fixed catalog the tests use)",
    )
    for name in ("n_skus", "n_comments", "order_days", "orders_per_day"):
        serve.add_argument("--" + name.replace("_", "-"), type=int, dest=name)
    serve.add_argument("--details-pending-polls", type=int, default=2)
    serve.add_argument("--jos-skew-s", type=float, default=360.0, help="allowed timestamp skew (JOS)")
    serve.add_argument("--pii-marker", default=None)
    serve.add_argument(
        "--jos-seed-shape",
        choices=c.JOS_SEED_SHAPES,
        default="full",
        help="seed dialect answers: every field (full) or exactly seed 003's examples (documented)",
    )
    serve.add_argument("--verbose", action="store_true", help="log every request")
    limits = serve.add_argument_group("rate limits (requests/s per gateway; 0 = unlimited)")
    for gw in c.GATEWAYS:
        limits.add_argument(f"--rps-{gw}", type=float, default=50.0)
    timing = serve.add_argument_group("latency and faults (probabilities per request)")
    timing.add_argument("--latency-ms", type=float, default=0.0)
    timing.add_argument("--jitter-ms", type=float, default=0.0)
    for kind, flag in FAULT_FLAGS.items():
        timing.add_argument(flag, type=float, default=0.0, dest=kind)
    timing.add_argument("--hang-seconds", type=float, default=3.0)
    _credentials(serve)
    env = sub.add_parser(
        "env",
        help="print export JD_...=... lines for a sandbox on --port",
        epilog=CREDENTIALS,
        formatter_class=fmt,
    )
    env.add_argument("--host", default="127.0.0.1")
    env.add_argument("--port", type=int, default=8765)
    _credentials(env)
    return parser


def _config(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        seed=args.seed,
        scale=args.scale,
        now=args.now or today_start(),
        n_skus=args.n_skus,
        n_comments=args.n_comments,
        order_days=args.order_days,
        orders_per_day=args.orders_per_day,
        token=args.token,
        jos_app_key=args.jos_app_key,
        jos_app_secret=args.jos_app_secret,
        jos_access_token=args.jos_access_token,
        fengchao_app_id=args.fengchao_app_id,
        fengchao_app_secret=args.fengchao_app_secret,
        fengchao_seller_nick=args.fengchao_seller_nick,
        rate_limit_rps={gw: getattr(args, f"rps_{gw}") or None for gw in c.GATEWAYS},
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        details_pending_polls=args.details_pending_polls,
        faults=Faults(**{k: getattr(args, k) for k in FAULT_FLAGS}, hang_seconds=args.hang_seconds),
        jos_timestamp_skew_s=args.jos_skew_s,
        pii_marker=args.pii_marker,
        jos_seed_shape=args.jos_seed_shape,
        host=args.host,
        port=args.port,
    )


def serve(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sandbox = Sandbox(_config(args), verbose=args.verbose).start()
    try:
        print(
            f"jd-sandbox serving {sandbox.base_url} (seed={args.seed}, scale={args.scale}, "
            f"now={sandbox.now.isoformat()})",
            flush=True,
        )
        while not stop.wait(0.2):
            pass
    finally:
        sandbox.stop()
    return 0


def print_env(args: argparse.Namespace) -> int:
    cfg = SandboxConfig(
        token=args.token,
        jos_app_key=args.jos_app_key,
        jos_app_secret=args.jos_app_secret,
        jos_access_token=args.jos_access_token,
        fengchao_app_id=args.fengchao_app_id,
        fengchao_app_secret=args.fengchao_app_secret,
        fengchao_seller_nick=args.fengchao_seller_nick,
    )
    for key, value in (env_for(f"http://{args.host}:{args.port}", cfg) | CLIENT_RATES).items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("serve", "env", "-h", "--help"):
        argv.insert(0, "serve")
    args = build_parser().parse_args(argv)
    try:
        return print_env(args) if args.command == "env" else serve(args)
    except OSError as exc:  # e.g. the port is taken
        print(f"jd-sandbox: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
