"""The Docker image and compose.yaml (README, "Production with Docker Compose"): every command they run is a
``billow`` command with options its ``--help`` lists, every setting they give is one Billow reads, every
route their healthchecks call exists. ``docker compose config`` and an image build run where Docker does."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from billow import cli
from billow.app import create_app
from billow.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
BILLOW_SERVICES = ("migrate", "api", "worker")


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def help_text(*command: str) -> str:
    result = CliRunner().invoke(cli.app, [*command, "--help"], env={"COLUMNS": "250", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return result.output


def listed_commands() -> set[str]:
    text = help_text()
    commands = text[text.index("Commands") :]
    return set(re.findall(r"^│ ([a-z][a-z-]*) ", commands, flags=re.MULTILINE))


def assert_billow_command(argv: list[str]) -> None:
    """``argv`` (after the image's ``billow`` entrypoint) names a listed command and only its options."""
    assert argv, "no command"
    name, *rest = argv
    assert name in listed_commands(), f"billow {name}: not a command of `billow --help`"
    options = set(re.findall(r"(--[a-z][a-z-]*)", help_text(name)))
    for token in rest:
        if token.startswith("-"):
            assert token.split("=")[0] in options, f"billow {name} {token}: not in `billow {name} --help`"


def dockerfile_instruction(name: str) -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    [line] = [line for line in text.splitlines() if line.startswith(f"{name} ")]
    return list(json.loads(line[line.index("[") :]))  # the exec form (HEALTHCHECK: after its options)


def healthcheck_paths(test: list[str]) -> list[str]:
    return re.findall(r"http://127\.0\.0\.1:\d+(/[a-z/]+)", " ".join(test))


class TestComposeFile:
    def test_services(self) -> None:
        services = compose()["services"]
        assert set(services) == {"postgres", *BILLOW_SERVICES}
        assert services["postgres"]["image"] == "postgres:15"
        assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
        assert any(volume.endswith(":/var/lib/postgresql/data") for volume in services["postgres"]["volumes"])
        assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        for name in ("api", "worker"):
            assert services[name]["depends_on"] == {
                "migrate": {"condition": "service_completed_successfully"}
            }
        assert services["migrate"]["restart"] == "no"

    @pytest.mark.parametrize("service", BILLOW_SERVICES)
    def test_every_command_is_a_billow_command_with_listed_options(self, service: str) -> None:
        assert_billow_command(compose()["services"][service]["command"])

    def test_the_commands_are_the_expected_ones(self) -> None:
        services = compose()["services"]
        assert [services[name]["command"][0] for name in BILLOW_SERVICES] == ["migrate", "serve", "worker"]

    def test_every_setting_is_one_billow_reads(self) -> None:
        for name in BILLOW_SERVICES:
            environment = compose()["services"][name]["environment"]
            for variable in environment:
                assert variable.startswith("BILLOW_"), variable
                assert variable.removeprefix("BILLOW_").lower() in Settings.model_fields, variable
            # Production: a shared sealing key and PostgreSQL, both required from .env.
            assert environment["BILLOW_ENV"] == "production"
            assert ":?" in environment["BILLOW_SECRET_KEY"]
            assert environment["BILLOW_DATABASE_URL"].startswith("postgresql://billow:${POSTGRES_PASSWORD:?")
            assert environment["BILLOW_SCHEDULER"] == "off"  # the worker runs the scans

    def test_healthchecks_call_routes_that_exist(self) -> None:
        services = compose()["services"]
        paths = set(create_app(Settings(database_url="sqlite://")).openapi()["paths"])
        assert healthcheck_paths(services["api"]["healthcheck"]["test"]) == ["/health/ready"]
        assert healthcheck_paths(dockerfile_instruction("HEALTHCHECK")) == ["/health/live"]
        assert {"/health/ready", "/health/live"} <= paths
        # The worker's: its metrics port, as its command opens it.
        worker = services["worker"]
        assert healthcheck_paths(worker["healthcheck"]["test"]) == ["/metrics"]
        port = worker["command"][worker["command"].index("--metrics-port") + 1]
        assert f"127.0.0.1:{port}/metrics" in " ".join(worker["healthcheck"]["test"])

    def test_env_example_names_every_variable_compose_reads(self) -> None:
        read = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE.read_text()))
        example = {
            line.split("=")[0]
            for line in (ROOT / ".env.example").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        }
        assert read - {"BILLOW_PORT"} == example


class TestDockerfile:
    def test_entrypoint_and_default_command(self) -> None:
        assert dockerfile_instruction("ENTRYPOINT") == ["billow"]
        command = dockerfile_instruction("CMD")
        assert_billow_command(command)
        assert command[:3] == ["serve", "--host", "0.0.0.0"]

    def test_slim_multi_stage_non_root(self) -> None:
        text = DOCKERFILE.read_text()
        assert re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE) == [
            "python:3.11-slim",
            "python:3.11-slim",
        ]
        assert "USER billow" in text
        assert 'VOLUME ["/var/lib/billow"]' in text
        assert "BILLOW_DATA_DIR=/var/lib/billow" in text


# ------------------------------------------------------------------------------------------ with Docker


def docker_compose() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker is not None
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    # A standalone docker-compose of version 2 speaks the Compose Specification; 1.x (Debian bookworm's
    # 1.29) does not (no top-level `name`) and is not a check of this file.
    legacy = shutil.which("docker-compose")
    if legacy is None:
        return None
    version = subprocess.run([legacy, "version", "--short"], capture_output=True, text=True).stdout.strip()
    return (
        [legacy]
        if version.lstrip("v").split(".")[0].isdigit() and int(version.lstrip("v").split(".")[0]) >= 2
        else None
    )


def docker_daemon() -> str | None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "info"], capture_output=True).returncode != 0:
        return None
    return docker


def test_docker_compose_config_is_valid(tmp_path: Path) -> None:
    command = docker_compose()
    if command is None:
        pytest.skip("docker compose is not installed")
    environment = {"POSTGRES_PASSWORD": "pw", "BILLOW_SECRET_KEY": "k" * 44, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [*command, "--file", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    missing = subprocess.run(
        [*command, "--file", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert missing.returncode != 0 and "POSTGRES_PASSWORD" in missing.stderr


def test_the_image_builds_and_serves() -> None:
    docker = docker_daemon()
    if docker is None:
        pytest.skip("no Docker daemon")
    tag = f"billow-test:{uuid.uuid4().hex[:8]}"
    subprocess.run([docker, "build", "--tag", tag, str(ROOT)], check=True, capture_output=True)
    try:
        user = subprocess.run(
            [docker, "run", "--rm", "--entrypoint", "id", tag, "-u"],
            check=True,
            capture_output=True,
            text=True,
        )
        assert user.stdout.strip() == "10001"
        started = subprocess.run(
            [docker, "run", "--detach", "--publish", "127.0.0.1::3000", tag],
            check=True,
            capture_output=True,
            text=True,
        )
        container = started.stdout.strip()
        try:
            port = (
                subprocess.run(
                    [docker, "port", container, "3000"], check=True, capture_output=True, text=True
                )
                .stdout.split(":")[-1]
                .strip()
            )
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/health/ready", timeout=2
                    ) as response:
                        assert json.load(response)["database"] == "ok"
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
        finally:
            subprocess.run([docker, "rm", "--force", container], capture_output=True)
    finally:
        subprocess.run([docker, "rmi", "--force", tag], capture_output=True)
