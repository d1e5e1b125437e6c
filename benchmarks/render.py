"""Benchmark: rendering notices — every kind, every output (subject, text, e-mail HTML, Telegram HTML).

The example configuration (``config/examples``) is loaded once. For every language the messages package
serves, every delegate invited to the XX meeting is made a reader of it, and every kind of notice is
rendered for each of them through ``messages.render.Renderer``, the way the composer renders a delivery.
A warm-up pass compiles the templates first; then the whole set is rendered ``--rounds`` times and the
best round is kept. Reported: the messages rendered and the time per message, per language and overall,
and the time it took to read every catalogue from its ``.po`` file (``messages.catalogues``), which
happens once per process.

The baseline, measured in the same run, is the same set rendered by the same renderer for readers of the
commission's working language only (Russian): any extra cost a language brings (a catalogue to look up,
a locale to load) shows as its ratio to it. It is a report, not a test: the exit code is 0 whatever
the figures.

Run it from the project root::

    python -m benchmarks.render
    python -m benchmarks.render --rounds 5
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks._common import positive
from config.loader import load
from domain.deployment import Deployment
from domain.notices import NoticeKind
from messages import catalogues
from messages.render import Renderer

EXAMPLES = Path(__file__).resolve().parents[1] / "config" / "examples"
SESSION = "icmec-xx"
DETAILS = {
    NoticeKind.REMINDER: "P1D@20221019T1100Z",
    NoticeKind.DEADLINE: "media-accreditation.PT3H@20221018T1400Z",
    NoticeKind.START: "20221019T1100Z",
    NoticeKind.UPDATE: "r2",
}


def example() -> Deployment:
    """The example deployment; exits with the problems when it does not validate."""
    result = load([str(EXAMPLES)], os.environ)
    if result.deployment is None:
        sys.exit("the example does not validate: " + "; ".join(str(e) for e in result.errors[:5]))
    return result.deployment


def reading(deployment: Deployment, language: str) -> Deployment:
    """The deployment with every delegate reading ``language``."""
    delegates = {key: d.model_copy(update={"language": language}) for key, d in deployment.delegates.items()}
    return dataclasses.replace(deployment, delegates=delegates)


def render_all(renderer: Renderer, delegates: Sequence[str]) -> int:
    """Render every kind of notice for every delegate once; return how many were rendered."""
    count = 0
    for delegate in delegates:
        for kind in NoticeKind:
            renderer.render(kind, SESSION, delegate, detail=DETAILS.get(kind, ""))
            count += 1
    return count


def per_message(renderer: Renderer, delegates: Sequence[str], rounds: int) -> tuple[int, float]:
    """Messages in one round and the best round's seconds per message (after a warm-up round)."""
    count = render_all(renderer, delegates)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        render_all(renderer, delegates)
        best = min(best, time.perf_counter() - started)
    return count, best / count


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.render", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=positive, default=3, help="timed rounds per language (default 3)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    for language in catalogues.languages():
        catalogues.catalogue(language)
    read_ms = (time.perf_counter() - started) * 1000
    deployment = example()
    delegates = deployment.invitations[SESSION]
    working = deployment.commission.language
    languages = Renderer(deployment).languages
    print(f"Render benchmark (Python {sys.version.split()[0]}): {len(delegates)} delegates × {len(NoticeKind)} kinds")
    read = f"{len(catalogues.languages())} in {read_ms:.1f} ms"
    print(f"  catalogues read from their .po files: {read} (once per process)")
    print(f"  {'readers of':<14}{'messages':>9}{'ms/message':>12}{'× ' + working:>10}")
    count, baseline = per_message(Renderer(reading(deployment, working)), delegates, args.rounds)
    print(f"  {working + ' (baseline)':<14}{count:>9,}{baseline * 1000:>12.3f}{1.0:>10.2f}")
    total, seconds = 0, 0.0
    for language in languages:
        count, each = per_message(Renderer(reading(deployment, language)), delegates, args.rounds)
        total, seconds = total + count, seconds + each * count
        print(f"  {language:<14}{count:>9,}{each * 1000:>12.3f}{each / baseline:>10.2f}")
    print(f"  {'all languages':<14}{total:>9,}{seconds / total * 1000:>12.3f}{seconds / total / baseline:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
