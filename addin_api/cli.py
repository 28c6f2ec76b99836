"""The `addin-api` command: dev, devstack, token, manifest, serve, check-config, mailbox, sync."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from addin_api.sync_cli import EmbeddedWorker, add_sync_parser

if TYPE_CHECKING:
    from addin_api.wiring import AppAccess

DEFAULT_DATA_DIR = ".devstack"


def _wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    stop.wait()


def dev_environment(config: dict[str, Any], public_url: str) -> dict[str, str]:
    """The service's `ADDIN_API_*` variables for the devstack described by `config` (its /_devstack/config)."""
    return {
        "ADDIN_API_CLIENT_ID": config["clientId"],
        "ADDIN_API_CLIENT_SECRET": config["clientSecret"],
        "ADDIN_API_TENANTS": config["tenantId"],
        "ADDIN_API_DATAVERSE_URLS": f"{config['tenantId']}={config['environmentUrl']}",
        "ADDIN_API_AUTHORITY_HOST": config["authorityHost"],
        "ADDIN_API_GRAPH_URL": config["graphUrl"].removesuffix("/v1.0"),
        "ADDIN_API_CA_BUNDLE": config["caFile"],
        "ADDIN_API_PUBLIC_URL": public_url,
    }


def _port_busy(command: str, host: str, port: int, flag: str, exc: OSError) -> int:
    """Say which port could not be bound and which flag picks another one; the exit status for it.

    Other OS errors (a data directory that cannot be written…) are raised as they are.
    """
    # cheroot wraps the bind error in its own OSError, whose text keeps the original reason.
    if exc.errno not in (errno.EADDRINUSE, errno.EACCES) and "in use" not in str(exc):
        raise exc
    print(
        f"addin-api {command}: cannot listen on {host}:{port} ({exc}); another process (an earlier "
        f"`addin-api {command}`?) may hold it. Stop it, or choose another port with {flag} <port>.",
        file=sys.stderr,
        flush=True,
    )
    return 1


def cmd_devstack(args: argparse.Namespace) -> int:
    """Run the emulated Dataverse and dev identity provider until interrupted."""
    from addin_api.devstack.config import synthetic_users
    from addin_api.devstack.control import config_document
    from addin_api.devstack.server import DevstackServer

    extra = synthetic_users(args.users)
    try:
        server = DevstackServer(Path(args.data_dir), host=args.host, port=args.port, extra_users=extra)
    except OSError as exc:
        return _port_busy("devstack", args.host, args.port, "--port", exc)
    config = config_document(server.state)
    print(f"devstack: tenant {config['tenantId']}, app {config['clientId']}, CA {config['caFile']}")
    if extra:
        print(f"devstack: {len(extra)} synthetic users {extra[0].upn} … {extra[-1].upn}")
    server.start()
    print(f"ready: {server.url}", flush=True)
    _wait_for_signal()
    server.stop()
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    """Run the devstack and the service together, and print what to open."""
    from addin_api import create_app, logs
    from addin_api.api import devharness
    from addin_api.devstack.control import config_document
    from addin_api.devstack.server import DevstackServer, HttpsServer
    from addin_api.settings import Settings, parse_log_level

    data_dir = Path(args.data_dir)
    try:
        devstack = DevstackServer(data_dir, host=args.host, port=args.devstack_port).start()
    except OSError as exc:
        return _port_busy("dev", args.host, args.devstack_port, "--devstack-port", exc)
    public_url = f"https://{args.host}:{args.port}"
    config = config_document(devstack.state)
    # The data directory is also the state the embedded sync worker shares with the pane's answers (syncState).
    settings = Settings.from_env({**dev_environment(config, public_url), "ADDIN_API_SHARED_STATE_DIR": str(data_dir)})
    # The same redacted JSON events as under gunicorn, on stderr (the instructions below go to stdout).
    logs.configure(parse_log_level(os.environ)[0])
    app = create_app(settings)
    devharness.init_app(app, devstack.url)
    # Persistent HTTP/1.1 connections, as gunicorn (`addin-api serve`) keeps them.
    cert, key = data_dir / "server.pem", data_dir / "server-key.pem"
    try:
        service = HttpsServer(app, args.host, args.port, cert, key, threads=32, name="service")
    except OSError as exc:
        devstack.stop()
        return _port_busy("dev", args.host, args.port, "--port", exc)
    # The sync worker in this process: Graph's notifications reach it through the webhooks, without Redis.
    worker = EmbeddedWorker(app, settings, data_dir).start()
    service.start()

    _print_dev_instructions(devstack, config, public_url)
    _wait_for_signal()
    service.stop()
    worker.stop()
    devstack.stop()
    return 0


def _print_dev_instructions(devstack: Any, config: dict[str, Any], public_url: str) -> None:
    """What `addin-api dev` prints once everything listens: the URLs, the demo users and a token for alice."""
    from addin_api.devstack.identity import mint_access_token

    alice = devstack.state.config.user_by_upn("alice@contoso.example")
    assert alice is not None
    token, _ = mint_access_token(devstack.state, alice)
    print(f"ready: {devstack.url}")
    print(f"ready: {public_url}", flush=True)
    print(
        "\nThe devstack plays Dataverse and Entra ID; the service acts as the signed-in user.\n"
        f"  task pane with a simulated Outlook item: {public_url}/dev\n"
        f"  API docs:         {public_url}/api/v1/docs\n"
        f"  add-in manifest:  {public_url}/manifest.xml\n"
        "  mailbox sync:     the dev page's Mailbox panel (a message arrives, you give it the category)\n"
        f"  CA certificate:   {config['caFile']}\n"
        f"  demo users:       {', '.join(u['upn'] + ' (' + u['scenario'] + ')' for u in config['users'])}\n"
        f"  a token for alice (valid 1 h; more with `addin-api token --user alice@contoso.example`):\n\n"
        f"TOKEN={token}\n\n"
        f'  curl --cacert {config["caFile"]} -H "Authorization: Bearer $TOKEN" {public_url}/api/v1/me\n'
        f'  curl --cacert {config["caFile"]} -H "Authorization: Bearer $TOKEN" '
        f'"{public_url}/api/v1/regarding?search=Fab"\n'
        f'  curl --cacert {config["caFile"]} -H "Authorization: Bearer $TOKEN" '
        f'"{public_url}/api/v1/people?email=dana@fabrikam.example"\n\n'
        "Ctrl-C stops everything.",
        flush=True,
    )


def cmd_token(args: argparse.Namespace) -> int:
    """Print a token minted by a running devstack for a demo user."""
    import requests

    data_dir = Path(args.data_dir)
    url = args.devstack or f"https://127.0.0.1:{args.devstack_port}"
    session = requests.Session()
    session.trust_env = False
    session.verify = str(data_dir / "ca.pem")
    body = {"user": args.user, "audience": args.audience}
    response = session.post(f"{url}/_devstack/token", json=body, timeout=10)
    if response.status_code != 200:
        print(f"error: {response.json().get('message', response.text)}", file=sys.stderr)
        return 1
    print(response.json()["access_token"])
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Check the `ADDIN_API_*` environment and name every problem."""
    from addin_api.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print("configuration is invalid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"configuration OK: {len(settings.tenants)} tenant(s), authority {settings.authority_host}")
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    """Print the add-in manifest rendered for a deployment."""
    from addin_api.manifest import render_manifest

    print(render_manifest(args.base_url, args.client_id))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the service under gunicorn with the shipped configuration."""
    config = Path(__file__).with_name("gunicorn_conf.py")
    argv = [sys.executable, "-m", "gunicorn", "-c", str(config)]
    if args.bind:
        argv += ["--bind", args.bind]
    argv.append("addin_api:create_app()")
    os.execv(sys.executable, argv)


def healthz_url(bind: str) -> str:
    """The /healthz URL of a service bound to `bind` (host:port; a wildcard host is reached on loopback)."""
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Exit 0 when the service answers /healthz with 200 (the container image's HEALTHCHECK)."""
    import urllib.error
    import urllib.request

    url = args.url or healthz_url(os.environ.get("ADDIN_API_BIND", "127.0.0.1:8000"))
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            status = int(response.status)
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    return 0 if status == 200 else 1


def cmd_mailbox(args: argparse.Namespace) -> int:
    """Approve, test or show a user's mailbox, as the app's Dataverse application user; exit 0, 1 (failed) or 2."""
    import logging

    from addin_api.errors import ApiError
    from addin_api.settings import Settings, SettingsError
    from addin_api.wiring import build_app_access

    # One line on stderr names a problem; the library's own warnings would add lines of their own.
    logging.getLogger("addin_api").addHandler(logging.NullHandler())
    name = f"addin-api mailbox {args.action}"
    try:
        access = build_app_access(Settings.from_env())
        tenant_id, environment = access.environment(args.environment)
    except SettingsError as exc:
        print(f"{name}: the configuration is invalid: {'; '.join(exc.problems)}", file=sys.stderr)
        return 1
    except LookupError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    try:
        ok, lines = _MAILBOX_ACTIONS[args.action](access, tenant_id, environment, args)
    except ApiError as exc:
        print(f"{name}: {exc.detail} ({exc.code})", file=sys.stderr)
        return 1
    print("\n".join(lines))
    if not ok:
        print(f"{name}: Test & Enable failed for {args.user}", file=sys.stderr)
    return 0 if ok else 1


def _mailbox_status(
    access: AppAccess, tenant_id: str, environment: str, args: argparse.Namespace
) -> tuple[bool, list[str]]:
    from addin_api.sync import admin

    person = admin.find_user(access.dataverse(environment), args.user)
    state = admin.status(access.dataverse(environment, acting_as=person.object_id), environment)
    return True, admin.describe(person, state)


def _mailbox_approve(
    access: AppAccess, tenant_id: str, environment: str, args: argparse.Namespace
) -> tuple[bool, list[str]]:
    from addin_api.sync import admin

    app = access.dataverse(environment)
    person = admin.find_user(app, args.user)
    approver = admin.find_user(app, args.by)
    admin.approve(access.dataverse(environment, acting_as=approver.object_id), person)
    ok, lines = _mailbox_status(access, tenant_id, environment, args)
    return ok, [f"approved {person.upn} (by {approver.upn})", *lines]


def _mailbox_test(
    access: AppAccess, tenant_id: str, environment: str, args: argparse.Namespace
) -> tuple[bool, list[str]]:
    from addin_api.sync import admin
    from addin_api.sync.graph import GraphClient

    app = access.dataverse(environment)
    person = admin.find_user(app, args.user)
    graph = GraphClient.for_app(access.settings, access.session, tenant_id)
    result = admin.run_test_and_enable(app, graph, person, take_over=args.take_over)
    return result.succeeded, admin.describe_result(person, result)


_MAILBOX_ACTIONS = {"status": _mailbox_status, "approve": _mailbox_approve, "test": _mailbox_test}


def _count(text: str) -> int:
    """A user count for `--users`: 0 to 999."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 999:
        raise argparse.ArgumentTypeError("must be between 0 and 999")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="addin-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    devstack = commands.add_parser("devstack", help="run the emulated Dataverse and dev identity provider")
    devstack.add_argument("--host", default="127.0.0.1")
    devstack.add_argument("--port", type=int, default=5001)
    devstack.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    devstack.add_argument(
        "--users",
        type=_count,
        default=0,
        metavar="N",
        help="add N synthetic full-rights users bench-user-NN@contoso.example (for load tests)",
    )
    devstack.set_defaults(func=cmd_devstack)

    dev = commands.add_parser("dev", help="run the devstack and the service together")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=5000)
    dev.add_argument("--devstack-port", type=int, default=5001)
    dev.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    dev.set_defaults(func=cmd_dev)

    token = commands.add_parser("token", help="print a token for a demo user from a running devstack")
    token.add_argument("--user", required=True, help="the demo user's UPN, e.g. alice@contoso.example")
    token.add_argument("--audience", choices=("addin", "dataverse", "graph"), default="addin")
    token.add_argument("--devstack", help="the devstack URL (default https://127.0.0.1:<devstack-port>)")
    token.add_argument("--devstack-port", type=int, default=5001)
    token.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    token.set_defaults(func=cmd_token)

    serve = commands.add_parser("serve", help="run the service under gunicorn with the shipped config")
    serve.add_argument("--bind", help="host:port (default from the gunicorn config / $ADDIN_API_BIND)")
    serve.set_defaults(func=cmd_serve)

    manifest = commands.add_parser("manifest", help="print the add-in manifest for a deployment")
    manifest.add_argument(
        "--base-url", required=True, help="where the service is served, e.g. https://addin.contoso.com"
    )
    manifest.add_argument("--client-id", required=True, help="the add-in's Entra application id")
    manifest.set_defaults(func=cmd_manifest)

    health = commands.add_parser("healthcheck", help="exit 0 when the local service answers /healthz")
    health.add_argument("--url", help="the URL to probe (default: /healthz on $ADDIN_API_BIND)")
    health.add_argument("--timeout", type=float, default=4.0)
    health.set_defaults(func=cmd_healthcheck)

    check = commands.add_parser("check-config", help="validate the ADDIN_API_* environment")
    check.set_defaults(func=cmd_check_config)

    _add_mailbox_parser(commands)
    add_sync_parser(commands, DEFAULT_DATA_DIR)
    return parser


def _add_mailbox_parser(commands: Any) -> None:
    mailbox = commands.add_parser(
        "mailbox", help="approve, Test & Enable or show a user's mailbox (as the app's Dataverse application user)"
    )
    actions = mailbox.add_subparsers(dest="action", required=True)
    for action, text in (
        ("status", "show approval, delivery, the last Test & Enable and what blocks tracking"),
        ("approve", "approve the user's email address, acting as an administrator (--by)"),
        ("test", "Test & Enable: probe the mailbox through Graph and record the result"),
    ):
        parser = actions.add_parser(action, help=text)
        parser.add_argument("--user", required=True, help="the user's sign-in name (UPN)")
        parser.add_argument("--environment", help="the Dataverse environment URL (default: the only one configured)")
        if action == "approve":
            parser.add_argument(
                "--by", required=True, help="the UPN of an administrator holding prvApproveRejectEmailAddress"
            )
        if action == "test":
            parser.add_argument(
                "--take-over",
                action="store_true",
                help="sync this mailbox with this environment only (moves the mark from another environment)",
            )
        parser.set_defaults(func=cmd_mailbox)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `addin-api` console script."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
