"""The `ivr` command, for an IVR and skill-based call-queue service on Twilio: start a site
(init), run it (serve, worker), check its config (check), try it on this machine (call, demo,
simulate), read its figures (report), hash a login secret (hash-secret), point a Twilio number at
it (twilio), and back its store up (backup, restore). `ivr COMMAND --help` tells more."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ivr.core import logs
from ivr.core.errors import ConfigError, SettingsError, StoreError
from ivr.core.settings import Settings
from ivr.core.store import (
    PARENT_ENV,
    EmbeddedStore,
    check_store_url,
    die_with_parent,
    follow_parent,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette

DEFAULT_HUB_PORT = 8765
STORE_COMMANDS = ("serve", "worker", "report")
"""The commands that reach REDIS_URL first, to stop on a wrong one with one plain line."""
WEB_STOP_S = 2
"""uvicorn's graceful shutdown bound: with the worker's, `ivr serve` stops within 5 s."""
WORKER_STOP_S = 3
DEFAULT_CALLER = "+60191234567"
ONE_CONTACT_CENTRE = frozenset({"demo", "simulate"})
"""Commands that run one contact centre, and refuse IVR_WORKSPACES rather than pick one."""
SINGLE = (
    "runs one contact centre, not the workspaces of IVR_WORKSPACES: unset it and set"
    " IVR_CONFIG_DIR to one workspace's folder (and IVR_TENANT to its id to play in its keys)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser(
        "init", help="write the sample config (DIR/config) and a commented DIR/.env.example"
    )
    init.add_argument(
        "directory", nargs="?", type=Path, default=Path("."), help="the new site (default: here)"
    )
    from ivr.ops import backup, twilio_number  # small parsers; the clients load on use

    backup.add_parsers(sub)
    twilio_number.add_parser(sub)
    serve = sub.add_parser("serve", help="run the web service (and an embedded store if needed)")
    serve.add_argument("--host", help="bind address (IVR_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (IVR_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="web worker processes (IVR_WORKERS, default 1)")
    serve.add_argument("--config", type=Path, help="config directory (IVR_CONFIG_DIR)")
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="do not start a job worker (run `ivr worker` separately instead)",
    )
    sub.add_parser("worker", help="run scheduled jobs (surveys, callbacks) on REDIS_URL")
    check = sub.add_parser("check", help="validate the config files and exit non-zero on errors")
    check.add_argument("directory", nargs="?", type=Path, help="config directory")
    call = sub.add_parser(
        "call", help="a phone in your terminal: call the menu through the emulator"
    )
    call.add_argument("--from", dest="caller", default=DEFAULT_CALLER, help="your number (E.164)")
    call.add_argument(
        "--to",
        help="the business number you call (default: the first the config lists, else the"
        " sample's)",
    )
    call.add_argument("--url", help="a running service's base URL (default: start one in-process)")
    call.add_argument("--config", type=Path, help="config directory for the in-process service")
    call.add_argument(
        "--at",
        metavar="TIME",
        help='pretend the call starts at TIME in the business\'s timezone ("2026-12-07 10:00"); '
        "for the in-process service",
    )
    call.add_argument("--agent", help="be this agent's phone, in a second terminal")
    from ivr.config import workspaces

    workspaces.add_flag(call)
    call.add_argument(
        "--hub",
        default=f"http://127.0.0.1:{DEFAULT_HUB_PORT}",
        help="the first `ivr call`'s hub (for --agent)",
    )
    call.add_argument(
        "--hub-port",
        type=int,
        default=DEFAULT_HUB_PORT,
        help="where this call serves the hub for agent terminals",
    )
    demo = sub.add_parser(
        "demo",
        help="run everything locally with a scripted day of callers",
        description="Run everything locally with a scripted day of callers, for one contact"
        " centre: with IVR_WORKSPACES set it refuses (exit 2); run it with IVR_CONFIG_DIR.",
    )
    demo.add_argument("--minutes", type=float, default=10.0, help="simulated minutes of calls")
    demo.add_argument(
        "--seed", type=int, default=2, help="random seed (arrivals, numbers, patience, talk times)"
    )
    demo.add_argument(
        "--calls-per-minute", type=float, default=1.5, help="mean arrivals per simulated minute"
    )
    demo.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="times real time (e.g. 10); default 0 runs as fast as possible",
    )
    demo.add_argument(
        "--at",
        metavar="'YYYY-MM-DD HH:MM'",
        help="when the demo's day starts, in the business's time zone "
        "(default: Monday 2026-11-23 10:00; with --keep, this morning if the office is open)",
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="play in the store `ivr serve` and `ivr report` use (REDIS_URL, else the embedded "
        "one under IVR_DATA_DIR) instead of a throwaway one, so the reports show the demo's day",
    )
    from ivr.devtools import simulate
    from ivr.web import report

    report.add_parser(sub)
    simulate.add_parser(sub)
    sub.add_parser("hash-secret", help="hash an agent's or supervisor's login secret for config")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"ivr {args.command}: {exc}", file=sys.stderr)
        return 2
    process = "web" if args.command == "serve" else args.command  # serve runs a worker too
    logs.configure(json=settings.log_json, process=process)
    try:
        if settings.redis_url and args.command in STORE_COMMANDS:
            check_store_url(settings.redis_url)
    except SettingsError as exc:
        print(f"ivr {args.command}: {exc}", file=sys.stderr)
        return 2
    try:
        return dispatch(settings, args)
    except ConfigError as exc:  # no config here, or a broken one: say so, without a traceback
        print(f"ivr {args.command}: {exc}", file=sys.stderr)
        return 2


def dispatch(settings: Settings, args: argparse.Namespace) -> int:
    """Run the parsed command."""
    if args.command == "init":
        from ivr.config import init

        return init.run(args.directory, sys.stdout, sys.stderr)
    if args.command == "check":
        from ivr.config import command

        if settings.workspaces and not args.directory:
            return command.run_all(settings.workspaces, sys.stdout)
        return command.run(args.directory or settings.config_dir, sys.stdout)
    if args.command in ("backup", "restore"):
        from ivr.ops import backup

        return backup.run(args)
    if args.command == "twilio":
        from ivr.ops import twilio_number

        return twilio_number.main(settings, args, sys.stdout)
    if args.command == "serve":
        return serve(settings, args)
    if args.command in ONE_CONTACT_CENTRE and settings.workspaces:
        print(f"ivr {args.command}: {SINGLE}", file=sys.stderr)
        return 2
    if args.command == "call":
        from ivr.devtools import call

        return call.main(settings, args)
    if args.command == "demo":
        from ivr.devtools import demo

        return demo.main(settings, args, sys.stdout)
    if args.command == "worker":
        from callbacks import worker
        from ivr.handlers import HANDLERS

        return worker.main(settings, HANDLERS)
    if args.command == "hash-secret":
        import getpass

        from ivr.web.auth import hash_secret

        print(hash_secret(getpass.getpass("Secret: ")))
        return 0
    if args.command == "report":
        from ivr.web import report

        return report.main(settings, args, sys.stdout)
    if args.command == "simulate":
        from ivr.devtools import simulate

        return simulate.main(settings, args, sys.stdout)
    return 2


def serve(settings: Settings, args: argparse.Namespace) -> int:
    """Refuse bad config, start the embedded store when needed, then run uvicorn."""
    from ivr.config import command

    settings = settings.with_(
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
        config_dir=args.config or settings.config_dir,
    )
    refused = settings.unsafe()
    if refused:
        print(f"ivr serve: refusing to start: {refused}", file=sys.stderr)
        return 2
    report = io.StringIO()
    checked = (
        command.run_all(settings.workspaces, report)
        if settings.workspaces
        else command.run(settings.config_dir, report)
    )
    if checked != 0:
        sys.stderr.write(report.getvalue())
        print("ivr serve: refusing to start on invalid config (see above)", file=sys.stderr)
        return 1
    with contextlib.ExitStack() as stack:
        if not settings.redis_url:
            try:
                os.environ["REDIS_URL"] = stack.enter_context(EmbeddedStore(settings.data_dir)).url
            except StoreError as exc:
                print(f"ivr serve: {exc}", file=sys.stderr)
                return 1
        os.environ["IVR_CONFIG_DIR"] = str(settings.config_dir)
        os.environ[PARENT_ENV] = str(os.getpid())  # for the web and job workers we start
        if not args.no_worker:
            stack.callback(stop_worker, start_worker())  # before the store stops: LIFO
        run_web(settings)
    return 0


def run_web(settings: Settings) -> None:
    """uvicorn until SIGTERM or SIGINT, with a bounded graceful shutdown."""
    import uvicorn

    # uvicorn re-raises the SIGTERM it caught once it has shut down; turning it into
    # SystemExit lets the caller stop the worker and the store instead of dying.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run(
        "ivr.cli:web_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=WEB_STOP_S,
    )


def web_app() -> Starlette:
    """uvicorn's app factory. A web worker process (`--workers N`) stops when serve dies."""
    from ivr.app import create_app

    parent = int(os.environ.get(PARENT_ENV) or 0)
    if parent and parent != os.getpid():
        logs.configure(json=Settings.from_env().log_json, process="web")  # log like serve
        follow_parent(parent)
    return create_app()


def stop_worker(job_worker: subprocess.Popen[bytes]) -> None:
    """Ask the worker to stop (it hands back the job in hand); insist if it lingers."""
    group = os.getpgid(job_worker.pid)
    os.killpg(group, signal.SIGTERM)
    try:
        job_worker.wait(timeout=WORKER_STOP_S)
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
        job_worker.wait()


def start_worker() -> subprocess.Popen[bytes]:
    """`ivr worker` as a child, on the same store, that stops when this process dies."""
    return subprocess.Popen(
        [sys.executable, "-m", "ivr.cli", "worker"],
        env={**os.environ, PARENT_ENV: str(os.getpid())},
        start_new_session=True,  # a Ctrl-C in the terminal reaches serve, which stops it in turn
        preexec_fn=die_with_parent(),  # noqa: PLW1509 (only async-signal-safe work)
    )


if __name__ == "__main__":
    sys.exit(main())
