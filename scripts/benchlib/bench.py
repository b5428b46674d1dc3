"""materialize against the raw engines and pip, side by side in one run (docs/performance.md).

Every timed command is a whole process: wall clock and peak RSS (``wait4``). Each measurement is
run several times, the sides interleaved (A, B, A, B); the table shows the median and the range,
the ratio of the best runs and, in brackets, of the medians. The phases are in ``phases.py``
(the workload) and ``real.py`` (``--real``: public PyPI sets).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import phases, real, report, runner, servers, workload, world as worlds
from .runner import Samples

PHASES = ("lock", "install", "noop", "pypi", "real")
NEEDS = {"install": ("lock",), "noop": ("lock", "install"), "pypi": ("lock", "install", "noop")}


@dataclass(frozen=True)
class Plan:
    repeat: int
    noop_repeat: int
    cold_repeat: int
    record_defaults: bool  # also time the raw engines with rattler's default link settings

    @staticmethod
    def of(args: argparse.Namespace) -> "Plan":
        if args.quick:
            plan = Plan(repeat=3, noop_repeat=10, cold_repeat=1, record_defaults=False)
        else:
            plan = Plan(repeat=5, noop_repeat=30, cold_repeat=2, record_defaults=True)
        if args.repeat:
            plan = Plan(args.repeat, max(args.repeat, plan.noop_repeat), plan.cold_repeat, plan.record_defaults)
        return plan


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (about 3 minutes with a warm bench cache)")
    parser.add_argument("--repeat", type=int, default=0, metavar="N", help="runs per measurement (default 5, --quick 3)")
    parser.add_argument("--real", action="store_true", help="also lock and install three real serving sets from "
                        "the public PyPI (needs the network; not for CI)")
    parser.add_argument("--only", metavar="PHASES", help=f"comma-separated subset of {','.join(PHASES)} "
                        "(the phases they need run too)")
    parser.add_argument("--cache-dir", type=Path, default=default_cache(), metavar="DIR",
                        help="downloaded wheels, built channel, run folders (default: %(default)s; "
                             "env MATERIALIZE_BENCH_CACHE)")
    parser.add_argument("--run-dir", type=Path, metavar="DIR",
                        help="where prefixes and the tools' caches go (default: /dev/shm when it has room, "
                             "else CACHE_DIR/runs); the disk of a shared VM is slow and noisy, see docs/performance.md")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (prefixes, caches, lockfiles)")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table as Markdown to FILE")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every sample as JSON to FILE")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--materialize", metavar="CMD", help="command that runs materialize, split like a shell "
                        "would (default: the venv's console script); e.g. a build to compare, or a profiler wrapper")
    return parser.parse_args(argv)


def chosen_phases(args: argparse.Namespace) -> list[str]:
    if args.only:
        wanted = [p.strip() for p in args.only.split(",") if p.strip()]
        unknown = sorted(set(wanted) - set(PHASES))
        if unknown:
            raise SystemExit(f"scripts/bench: unknown phase(s) {unknown}; known: {', '.join(PHASES)}")
    else:
        wanted = [p for p in PHASES if p != "real" or args.real]
    needed = {p for w in wanted for p in (w, *NEEDS.get(w, ()))}
    return [p for p in PHASES if p in needed]


def default_cache() -> Path:
    configured = os.environ.get("MATERIALIZE_BENCH_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "materialize-bench"


SHM = Path("/dev/shm")
SHM_NEEDED = 8 << 30  # prefixes and caches of one run: about 5 GiB at the peak
RUN_PREFIX = "materialize-bench-"


def make_run_dir(chosen: Path | None, cache: Path) -> Path:
    """A fresh run folder; stale ones (their bench process is gone) are removed first."""
    if chosen is None:
        chosen = SHM if _has_room(SHM) else cache / "runs"
    chosen.mkdir(parents=True, exist_ok=True)
    for stale in chosen.glob(RUN_PREFIX + "*"):
        try:
            pid = int((stale / "pid").read_text())
            os.kill(pid, 0)
        except ProcessLookupError:
            runner.remove(stale)
        except (OSError, ValueError):
            continue
    root = Path(tempfile.mkdtemp(dir=chosen, prefix=RUN_PREFIX + time.strftime("%Y%m%d-%H%M%S-")))
    (root / "pid").write_text(str(os.getpid()))
    return root


def _has_room(path: Path) -> bool:
    try:
        usage = shutil.disk_usage(path)
        available = _mem_available()
    except OSError:
        return False
    return os.access(path, os.W_OK) and usage.free > SHM_NEEDED and available > SHM_NEEDED


def _mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def run_phases(chosen: list[str], load, root: Path, plan: Plan, results: dict[str, Samples], log) -> str:
    """Start the servers, run the chosen phases; returns the channel server's kind."""
    with servers.channel(load.channel, log) as channel, servers.pypi(load.index_dir) as index:
        log(f"channel served by {channel.kind} at {channel.url}")

        def make(name: str, conda: list[str], requirements: list[str], index_url: str = index.url) -> worlds.World:
            return worlds.World(root / name, channel.url, index_url, workload.PYTHON_MINOR, conda, requirements,
                                list(workload.CORE), load.channel).setup()

        if any(p != "real" for p in chosen):
            pypi_names = [n for n in workload.names(workload.PYPI_SET) if n not in workload.CORE]
            world = make("workload", workload.names(workload.CONDA_SET), pypi_names)
            if "lock" in chosen:
                phases.lock_cold(world, plan, results, log, channel)
                phases.lock_warm(world, plan, results, log)
            for name, phase in (("install", phases.install), ("noop", phases.noop), ("pypi", phases.pypi_part)):
                if name in chosen:
                    phase(world, plan, results, log)
            runner.remove(world.root)
        if "real" in chosen:
            real.run_all(lambda name, conda, reqs: make(f"real-{name}", conda, reqs, real.PYPI), plan, results, log)
        return channel.kind


def summary(load, plan: Plan, quick: bool, run_dir: Path, channel_kind: str) -> list[str]:
    stats = load.stats
    conda_n, conda_files, conda_bytes = stats["conda"]
    pypi_n, pypi_files, pypi_bytes = stats["pypi"]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return [
        f"workload: {conda_n + 1} conda packages ({conda_n} noarch: python from real wheels, {conda_files:,} files, "
        f"{conda_bytes / 1e6:.0f} MB unpacked, + python {load.python_version}; "
        f"{stats['conda_archive_bytes'] / 1e6:.0f} MB of .conda), {pypi_n} PyPI wheels ({pypi_files:,} files, "
        f"{pypi_bytes / 1e6:.0f} MB unpacked)",
        f"runs: {plan.repeat} per measurement (no-op: {plan.noop_repeat}, cold: {plan.cold_repeat}); "
        f"'median [best-worst]'; ratios of the best runs (of the medians); {'--quick' if quick else 'full run'}; "
        f"{cores} cores, load average {os.getloadavg()[0]:.1f} at the end",
        f"channel served by {channel_kind}; prefixes and caches on {_filesystem(run_dir)}",
    ]


def _filesystem(path: Path) -> str:
    """``/dev/shm (tmpfs)``: the mount point and type holding ``path``."""
    best = ("", "?")
    try:
        for line in open("/proc/mounts"):
            _, mount, kind = line.split()[:3]
            if (str(path) + "/").startswith(mount.rstrip("/") + "/") and len(mount) >= len(best[0]):
                best = (mount, kind)
    except OSError:
        pass
    return f"{path} ({best[1]})"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    plan, chosen = Plan.of(args), chosen_phases(args)
    if args.materialize:
        import shlex

        worlds.MATERIALIZE[:] = shlex.split(args.materialize)
    started = time.monotonic()

    def log(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    cache = args.cache_dir.resolve()
    load = workload.prepare(cache, log)
    setup_seconds = time.monotonic() - started
    log(f"workload ready in {setup_seconds:.1f} s: channel {load.channel.name}; phases {', '.join(chosen)}")
    results: dict[str, Samples] = {}
    root = make_run_dir(args.run_dir, cache)
    log(f"run folder: {root}")
    try:
        kind = run_phases(chosen, load, root, plan, results, log)
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            runner.remove(root)
    footer = f"bench: workload ready in {setup_seconds:.0f} s, whole run {time.monotonic() - started:.0f} s"
    table = report.Table(results, summary(load, plan, args.quick, root.parent, kind), footer)
    if args.markdown:
        args.markdown.write_text(table.markdown())
    if args.json:
        args.json.write_text(json.dumps({k: {"values": v.values, "peak_rss": v.rss, "unit": v.unit}
                                         for k, v in results.items()}, indent=1, sort_keys=True))
    print(table.text())
    for line in table.closing_lines():
        print(line)
    return 1 if args.check and not table.all_met() else 0
