"""The Dockerfile (Docker cannot run here): what it copies exists, what it runs exists in the package, and the
runtime image is slim, unprivileged, exposed on the bound port and health-checked on /healthz."""

from __future__ import annotations

import json
import shlex
import socket
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from opsutil import ROOT, free_port
from werkzeug.serving import BaseWSGIServer, make_server

from addin_api import create_app
from addin_api.cli import build_parser, healthz_url, main
from addin_api.settings import Settings

Instruction = tuple[str, str]


def instructions(path: Path) -> list[Instruction]:
    """The Dockerfile's instructions (keyword, arguments), with continuation lines joined and comments dropped."""
    found: list[Instruction] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        found.append((keyword.upper(), arguments.strip()))
        pending = ""
    return found


def argv(arguments: str) -> list[str]:
    """An exec-form (JSON array) or shell-form command as argv."""
    if arguments.startswith("["):
        parsed: list[str] = json.loads(arguments)
        return parsed
    return shlex.split(arguments)


@pytest.fixture(scope="module")
def runtime() -> list[Instruction]:
    """The instructions of the last (runtime) stage."""
    every = instructions(ROOT / "Dockerfile")
    last_from = max(i for i, (keyword, _) in enumerate(every) if keyword == "FROM")
    return every[last_from:]


def env_of(stage: list[Instruction]) -> dict[str, str]:
    """The ENV defaults of a stage."""
    found: dict[str, str] = {}
    for keyword, arguments in stage:
        if keyword == "ENV":
            for item in shlex.split(arguments):
                name, _, value = item.partition("=")
                found[name] = value
    return found


def test_runtime_stage_is_slim_unprivileged_and_runs_the_shipped_server(runtime: list[Instruction]) -> None:
    """python slim base, a non-root USER before CMD, `addin-api serve` as the command, port exposed as bound."""
    keywords = [k for k, _ in runtime]
    base = runtime[0][1]
    user = next(a for k, a in runtime if k == "USER")
    env = env_of(runtime)
    exposed = next(a for k, a in runtime if k == "EXPOSE")
    assert base.startswith("python:3.11-slim")
    assert user.split(":")[0] not in ("root", "0") and keywords.index("USER") < keywords.index("CMD")
    assert ["addin-api", "serve"] == argv(next(a for k, a in runtime if k == "CMD"))
    assert env["ADDIN_API_BIND"].endswith(":" + exposed)
    expected = {"ADDIN_API_WORKERS", "ADDIN_API_WORKER_CONNECTIONS", "PROMETHEUS_MULTIPROC_DIR", "PYTHONUNBUFFERED"}
    assert expected <= set(env)
    # No secret gets a default in the image.
    assert not {k for k in env if "SECRET" in k or "CLIENT_ID" in k}


def test_commands_the_image_runs_exist_in_the_package(runtime: list[Instruction]) -> None:
    """`addin-api` is the package's console script and `serve` / `healthcheck` are its commands."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    health = next(a for k, a in runtime if k == "HEALTHCHECK")
    health_argv = argv(health.partition("CMD ")[2])
    command = argv(next(a for k, a in runtime if k == "CMD"))
    assert "addin_api.cli:main" == scripts["addin-api"]
    assert ["addin-api", "addin-api"] == [command[0], health_argv[0]]
    for args in (command[1:], health_argv[1:]):
        parsed = build_parser().parse_args(args)
        assert args[0] == parsed.command


def test_files_the_build_copies_exist_and_the_context_excludes_the_rest() -> None:
    """Every COPY source (outside --from stages) exists; .dockerignore keeps .venv, .git and tests out."""
    every = instructions(ROOT / "Dockerfile")
    for keyword, arguments in every:
        if keyword == "COPY" and not arguments.startswith("--from"):
            *sources, _destination = shlex.split(arguments)
            for source in sources:
                assert (ROOT / source).exists(), source
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert "*" == ignore[0] and {"!pyproject.toml", "!README.md", "!addin_api/"} <= set(ignore)


@pytest.fixture()
def live(service_settings: Settings) -> Iterator[str]:
    """The service on a werkzeug server in a thread; yields host:port."""
    app: Flask = create_app(service_settings)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_healthcheck_command_passes_on_a_live_service_and_fails_without_one(
    live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`addin-api healthcheck` probes /healthz on $ADDIN_API_BIND: 0 when it answers, 1 when nothing listens."""
    monkeypatch.setenv("ADDIN_API_BIND", live)
    assert 0 == main(["healthcheck"])
    closed = free_port()
    with socket.socket() as sock:  # make sure nothing listens there
        sock.bind(("127.0.0.1", closed))
        monkeypatch.setenv("ADDIN_API_BIND", f"0.0.0.0:{closed}")
        assert 1 == main(["healthcheck", "--timeout", "2"])
    assert "http://127.0.0.1:8000/healthz" == healthz_url("0.0.0.0:8000")
