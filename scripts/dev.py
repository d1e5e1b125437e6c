#!/usr/bin/env python3
"""Set up the project's virtual environment and run Plenary or its checks.

    python3 scripts/dev.py run    # run the service on the example, on a clock 20,000 times faster
    python3 scripts/dev.py test   # ruff, mypy, import contracts and the whole pytest suite
    python3 scripts/dev.py catalogues   # extract messages.pot and merge it into every .po (docs/translations.md)

Needs only Python 3.11+ and the package index. The environment lives in .venv and is
reinstalled when pyproject.toml changes.
"""

from __future__ import annotations

import ctypes.util
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".plenary-installed"


def _run(*args: str | Path, check: bool = True) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    code = subprocess.call([str(a) for a in args], cwd=ROOT)
    if check and code != 0:
        sys.exit(code)
    return code


def setup() -> None:
    """Create .venv and install Plenary with its development tools, unless already up to date."""
    if sys.version_info < (3, 11):  # noqa: UP036 - the script may be started by an older Python
        sys.exit(f"Plenary needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    _run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    STAMP.write_text(digest)


def _program(name: str) -> Callable[[], bool]:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return lambda: shutil.which(name, path=path) is not None


def _library(name: str) -> Callable[[], bool]:
    return lambda: ctypes.util.find_library(name) is not None


def _file(path: str) -> Callable[[], bool]:
    return lambda: Path(path).is_file()


SERVICE_PACKAGES: dict[str, Callable[[], bool]] = {
    "libpango-1.0-0": _library("pango-1.0"),
    "libpangoft2-1.0-0": _library("pangoft2-1.0"),
    "fonts-dejavu-core": _file("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
}
"""What the service itself needs of the system, by Debian package: Pango for WeasyPrint, which prints a summary's
PDF annex, and DejaVu, whose fonts have the Cyrillic and Armenian letters of every member state's language."""
TEST_PACKAGES: dict[str, Callable[[], bool]] = {
    **SERVICE_PACKAGES,
    "chromium": _program("chromium"),
    "dovecot-imapd": _program("dovecot"),
}
"""And what the tests drive: Chromium for the answer page's browser tests (through Playwright's
``executable_path``, never a browser download), Dovecot for the mailbox the calendar replies are read from."""


def system_packages(wanted: dict[str, Callable[[], bool]]) -> None:
    """Install from Debian's packages what is wanted and the machine lacks (as root, with apt-get); without
    them the PDF annex is not written, and the tests that need them skip outside CI and fail under CI."""
    missing = sorted(package for package, present in wanted.items() if not present())
    if not missing:
        return
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"not installed: {', '.join(missing)} (install them to run every test)", file=sys.stderr)
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("+ apt-get install " + " ".join(missing), flush=True)
    subprocess.call(["apt-get", "update", "-qq"], env=env)
    code = subprocess.call(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)
    if code != 0:
        print(f"apt-get could not install {', '.join(missing)}", file=sys.stderr)


DEMO_DATA = ROOT / ".plenary" / "demo"


def run() -> int:
    """Play the XX meeting's whole cycle on the example, 20,000 times faster, from a fresh demo data folder; then
    the XVIII meeting's videoconference and its attendance."""
    system_packages(SERVICE_PACKAGES)
    shutil.rmtree(DEMO_DATA, ignore_errors=True)
    os.environ["PLENARY_DATA_DIR"] = str(DEMO_DATA)
    os.environ.setdefault("PLENARY_HTTP_PORT", "0")  # any free port: the log says which
    for name in ("ICMEC_BBB_SECRET", "ICMEC_JITSI_SECRET", "ICMEC_JITSI_EVENTS_TOKEN"):
        os.environ.setdefault(name, f"demo-{name.lower()}")  # the example's video sessions' secrets
    code = _run(
        BIN / "plenary",
        "run",
        "config/examples/",
        "--clock-start",
        "2022-10-05T00:00:00Z",
        "--clock-speed",
        "20000",
        "--until",
        "2022-10-24T00:00:00Z",
        check=False,
    )
    print(f"\nThe e-mails are in {DEMO_DATA / 'maildir'} (one file each, Maildir format).")
    print(f"The summaries (Markdown, HTML, JSON, the PDF annex, the chart) are in {DEMO_DATA / 'summaries'}.")
    print("\nNext, the XVIII meeting's videoconference, played against a BigBlueButton double:")
    video = _run(BIN / "python", "scripts/video_demo.py", check=False)
    print(f"Again with: PLENARY_DATA_DIR={DEMO_DATA} .venv/bin/plenary attendance icmec-xviii config/examples/")
    return code or video


def test(pytest_args: list[str]) -> int:
    """Run every check CI runs; stop at the first that fails."""
    system_packages(TEST_PACKAGES)
    _run(BIN / "ruff", "check", ".")
    _run(BIN / "ruff", "format", "--check", ".")
    _run(BIN / "mypy")
    _run(BIN / "lint-imports")
    code = _run(PYTHON, "-m", "pytest", *pytest_args, check=False)
    if code == 5:
        print("pytest collected no tests: that is a failure, not a pass", file=sys.stderr)
        return 1
    return code


LOCALE = ROOT / "messages" / "locale"


def catalogues() -> int:
    """Extract every message into messages.pot, then merge it into each language's .po (pybabel update)."""
    pot = LOCALE / "messages.pot"
    _run(
        BIN / "pybabel",
        "extract",
        "-F",
        "babel.cfg",
        "-k",
        "N_",
        "-k",
        "NP_:1c,2",
        "--no-location",
        "--sort-output",
        "--project",
        "Plenary",
        "--copyright-holder",
        "Plenary",
        "-o",
        pot,
        ".",
    )
    _run(
        BIN / "pybabel",
        "update",
        "-i",
        pot,
        "-d",
        LOCALE,
        "-D",
        "messages",
        "--ignore-obsolete",
        "--previous",
        "-w",
        "120",
    )
    print("Now translate the entries that are empty or marked fuzzy in each .po (docs/translations.md).")
    return 0


def main() -> int:
    """Dispatch ``run``, ``test`` or ``catalogues``."""
    if len(sys.argv) < 2 or sys.argv[1] not in ("run", "test", "setup", "catalogues"):
        print(__doc__)
        return 2
    setup()
    if sys.argv[1] == "run":
        return run()
    if sys.argv[1] == "test":
        return test(sys.argv[2:])
    if sys.argv[1] == "catalogues":
        return catalogues()
    return 0


if __name__ == "__main__":
    sys.exit(main())
