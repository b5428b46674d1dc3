"""materialize against the raw engines and pip, side by side in one run (docs/performance.md).

Phases (each timed command is the best of N, the two sides interleaved A, B, A, B):

1. lock, warm caches, no previous lockfile: ``materialize lock`` vs ``raw_lock.py`` (rattler solve
   + ``uv pip compile``).                                                          -> lock-ratio
2. install, cold then warm: the first install into empty caches is the cold sample (and warms
   them); then fresh prefixes: ``materialize install`` vs ``raw_install.py`` (rattler install +
   ``uv pip install``, the flags materialize passes).                       -> warm-install-ratio
3. no-op install (the prefix already matches) vs ``python -c pass``.              -> noop-ratio
4. the PyPI part: ``materialize install`` of the full lock into a prefix that holds only its conda
   part vs ``pip install --no-deps --require-hashes --no-compile --target`` of the same hashed
   wheels (and, for the record, ``uv pip install --target``).                     -> pip-speedup
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import report, runner, servers, workload
from .runner import Case, Samples

HERE = Path(__file__).resolve().parent
RAW_INSTALL = HERE / "raw_install.py"
RAW_LOCK = HERE / "raw_lock.py"
# rattler link settings of materialize/engines/conda.link (copy or reflink, never hardlink; every
# cached extraction validated in full), mirrored by the baseline so that both do the same work.
RAW_LINK, RAW_VALIDATION = "copy", "full"


@dataclass(frozen=True)
class Plan:
    repeat: int
    noop_repeat: int
    cold_repeat: int
    record_defaults: bool  # also time the raw engines with rattler's default link settings

    @staticmethod
    def of(args: argparse.Namespace) -> "Plan":
        if args.quick:
            plan = Plan(repeat=2, noop_repeat=10, cold_repeat=1, record_defaults=False)
        else:
            plan = Plan(repeat=5, noop_repeat=30, cold_repeat=2, record_defaults=True)
        if args.repeat:
            plan = Plan(args.repeat, max(args.repeat, plan.noop_repeat), plan.cold_repeat, plan.record_defaults)
        return plan


@dataclass
class World:
    """The run folder: project, config, per-tool caches and prefixes, and the environments."""

    root: Path
    channel: str
    index: str
    python_minor: str
    interpreter: str = ""
    mz_lock_env: dict[str, str] = field(default_factory=dict)
    mz_env: dict[str, str] = field(default_factory=dict)
    raw_env: dict[str, str] = field(default_factory=dict)
    pip_env: dict[str, str] = field(default_factory=dict)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @property
    def project(self) -> Path:
        return self.path("project")

    @property
    def full_lock(self) -> Path:
        return self.path("locks", "full-lock.yml")

    @property
    def conda_lock(self) -> Path:
        return self.path("locks", "conda-only-lock.yml")

    @property
    def hashed(self) -> Path:
        return self.path("locks", "hashed-requirements.txt")

    def setup(self) -> None:
        self.project.mkdir(parents=True)
        pypi_names = [n for n in workload.names(workload.PYPI_SET) if n not in workload.CORE]
        (self.project / "conda-packages.txt").write_text("\n".join(workload.names(workload.CONDA_SET)) + "\n")
        (self.project / "requirements.txt").write_text("\n".join(pypi_names) + "\n")
        (self.project / "pip.conf").write_text(f"[global]\nindex-url = {self.index}\n")
        core = self.path("core.txt")
        core.write_text("\n".join(workload.CORE) + "\n")
        config = self.path("config", "materialize", "config.toml")
        config.parent.mkdir(parents=True)
        config.write_text(f'python = "{self.python_minor}"\ncore-requirements = "{core}"\n')
        self.path("locks").mkdir()
        self.path("prefixes").mkdir()
        common = {"XDG_CONFIG_HOME": str(self.path("config"))}
        self.mz_lock_env = runner.clean_env({**common, "MATERIALIZE_CACHE_DIR": str(self.path("mz-lock-cache")),
                                             "XDG_CACHE_HOME": str(self.path("mz-xdg"))})
        self.mz_env = runner.clean_env({**common, "MATERIALIZE_CACHE_DIR": str(self.path("mz-cache")),
                                        "XDG_CACHE_HOME": str(self.path("mz-xdg"))})
        self.raw_env = runner.clean_env({**common, "XDG_CACHE_HOME": str(self.path("raw-xdg")),
                                         "UV_CACHE_DIR": str(self.path("raw-cache", "uv"))})
        self.pip_env = runner.clean_env({})
        self.interpreter = _uv_python_find(self.python_minor, self.raw_env)

    def freeze_locks(self) -> None:
        """The lockfile the installs use, its conda-only half, and its PyPI half as hashed pip requirements."""
        import yaml

        shutil.copy(self.project / "materialize-lock.yml", self.full_lock)
        data = yaml.safe_load(self.full_lock.read_text())
        pip = [p for p in data["package"] if p["manager"] == "pip"]
        data["package"] = [p for p in data["package"] if p["manager"] != "pip"]
        self.conda_lock.write_text(yaml.safe_dump(data, sort_keys=False))
        self.hashed.write_text("".join(f"{p['name']} @ {p['url']} --hash=sha256:{p['hash']['sha256']}\n" for p in pip))


def _uv_python_find(minor: str, env: dict[str, str]) -> str:
    import uv

    done = subprocess.run([uv.find_uv_bin(), "python", "find", "--no-config", "--no-python-downloads", minor],
                          env=env, capture_output=True, text=True)
    found = done.stdout.strip().splitlines()
    return found[-1] if done.returncode == 0 and found else sys.executable


MATERIALIZE: list[str] = []  # the command that runs materialize (--materialize), else the venv's console script


def _materialize(*args: object) -> list[str]:
    return [*(MATERIALIZE or [str(runner.materialize_bin())]), "-q", *map(str, args)]


def _raw_install(lockfile: Path, prefix: Path, rattler_cache: Path, link: str = RAW_LINK,
                 validation: str = RAW_VALIDATION, offline: bool = True) -> list[str]:
    return [sys.executable, str(RAW_INSTALL), str(lockfile), str(prefix), str(rattler_cache), "--link", link,
            "--validation", validation, *(["--offline"] if offline else [])]


# --- phases -----------------------------------------------------------------------------------


def phase_lock(world: World, plan: Plan, results: dict[str, Samples], log) -> None:
    log("lock (warm caches, no previous lockfile) ...")
    lockfile = world.project / "materialize-lock.yml"
    mz = Case(Samples("materialize lock"), lambda: _materialize("lock", world.project, "--channel", world.channel),
              world.mz_lock_env, prepare=lambda: lockfile.unlink(missing_ok=True))
    raw = Case(Samples("rattler solve + uv pip compile"),
               lambda: [sys.executable, str(RAW_LOCK), str(world.project), world.channel, world.index,
                        world.python_minor, world.interpreter, str(world.path("raw-lock"))], world.raw_env)
    for case in (mz, raw):  # warm-up: fills the caches, not counted
        case.once()
        case.samples.seconds.clear()
    runner.interleaved([mz, raw], plan.repeat, log)
    results["lock.mz"], results["lock.raw"] = mz.samples, raw.samples
    world.freeze_locks()


def phase_install(world: World, plan: Plan, results: dict[str, Samples], log) -> None:
    mz_prefix, raw_prefix = world.path("prefixes", "mz"), world.path("prefixes", "raw")
    raw_cache = world.path("raw-cache", "rattler")

    log("install, cold caches (local servers) ...")
    mz_cold = Samples("materialize install (cold)")
    raw_cold = Samples("rattler + uv install (cold)")
    for round_ in range(plan.cold_repeat):
        first = round_ == 0  # the first cold install fills the caches the warm installs use
        mz_cache = world.path("mz-cache") if first else world.path(f"mz-cold-{round_}")
        raw_caches = (raw_cache, world.path("raw-cache", "uv")) if first else (
            world.path(f"raw-cold-{round_}", "rattler"), world.path(f"raw-cold-{round_}", "uv"))
        mz_env = {**world.mz_env, "MATERIALIZE_CACHE_DIR": str(mz_cache)}
        raw_env = {**world.raw_env, "UV_CACHE_DIR": str(raw_caches[1])}
        for prefix in (mz_prefix, raw_prefix):
            runner.remove(prefix)
        mz_cold.seconds.append(runner.run(_materialize("install", world.project, "--lockfile", world.full_lock,
                                                       "--prefix", mz_prefix), mz_env))
        raw_cold.seconds.append(runner.run(_raw_install(world.full_lock, raw_prefix, raw_caches[0], offline=False),
                                           raw_env))
        log(f"  cold {round_ + 1}/{plan.cold_repeat}: materialize {mz_cold.seconds[-1]:.2f} s, "
            f"raw {raw_cold.seconds[-1]:.2f} s")
        if not first:
            for path in (mz_cache, world.path(f"raw-cold-{round_}")):
                runner.remove(path)
    results["cold.mz"], results["cold.raw"] = mz_cold, raw_cold

    log("install, warm caches, fresh prefix ...")
    mz = Case(Samples("materialize install (warm)"),
              lambda: _materialize("install", world.project, "--lockfile", world.full_lock, "--prefix", mz_prefix),
              world.mz_env, prepare=lambda: runner.remove(mz_prefix))
    raw = Case(Samples(f"rattler ({RAW_LINK}, {RAW_VALIDATION}) + uv install"),
               lambda: _raw_install(world.full_lock, raw_prefix, raw_cache), world.raw_env,
               prepare=lambda: runner.remove(raw_prefix))
    cases = [mz, raw]
    if plan.record_defaults:
        cases.append(Case(Samples("rattler (defaults: hardlink, fast) + uv install"),
                          lambda: _raw_install(world.full_lock, raw_prefix, raw_cache, "hardlink", "fast"),
                          world.raw_env, prepare=lambda: runner.remove(raw_prefix)))
    runner.interleaved(cases, plan.repeat, log)
    runner.remove(raw_prefix)
    results["warm.mz"], results["warm.raw"] = mz.samples, raw.samples
    if plan.record_defaults:
        results["warm.raw-defaults"] = cases[2].samples


def phase_noop(world: World, plan: Plan, results: dict[str, Samples], log) -> None:
    log("no-op install (the prefix already matches the lock) ...")
    prefix = world.path("prefixes", "mz")
    mz = Case(Samples("materialize install (no-op)"),
              lambda: _materialize("install", world.project, "--lockfile", world.full_lock, "--prefix", prefix),
              world.mz_env)
    bare = Case(Samples("python -c pass"), lambda: [sys.executable, "-c", "pass"], world.mz_env)
    mz.once()  # the prefix must really be up to date (and the page cache warm)
    mz.samples.seconds.clear()
    runner.interleaved([mz, bare], plan.noop_repeat, lambda line: None)
    log(f"  best of {plan.noop_repeat}: materialize {mz.samples.best * 1000:.1f} ms, "
        f"python -c pass {bare.samples.best * 1000:.1f} ms")
    results["noop.mz"], results["noop.python"] = mz.samples, bare.samples


def phase_pypi(world: World, plan: Plan, results: dict[str, Samples], log) -> None:
    log("the PyPI part: materialize vs pip vs uv (same hashed wheels, warm caches) ...")
    prefix = world.path("prefixes", "mz")  # holds the full lock after the no-op phase
    python = prefix / "bin" / "python"
    pip_target, uv_target = world.path("pip-target"), world.path("uv-target")
    mz = Case(Samples("materialize install (PyPI part)"),
              lambda: _materialize("install", world.project, "--lockfile", world.full_lock, "--prefix", prefix),
              world.mz_env, prepare=lambda: runner.run(
                  _materialize("install", world.project, "--lockfile", world.conda_lock, "--prefix", prefix),
                  world.mz_env))
    pip = Case(Samples("pip install --no-deps --require-hashes"),
               lambda: [str(python), "-m", "pip", "install", "--isolated", "--disable-pip-version-check", "--no-input",
                        "-q", "--no-deps", "--require-hashes", "--no-compile", "--cache-dir", str(world.path("pip-cache")),
                        "--target", str(pip_target), "-r", str(world.hashed)],
               world.pip_env, prepare=lambda: runner.remove(pip_target))
    import uv

    uv_case = Case(Samples("uv pip install --no-deps --require-hashes"),
                   lambda: [uv.find_uv_bin(), "pip", "install", "--no-config", "--no-python-downloads", "-q",
                            "--python", str(python), "--no-deps", "--require-hashes", "--link-mode", "copy",
                            "--offline", "--target", str(uv_target), "-r", str(world.hashed)],
                   world.raw_env, prepare=lambda: runner.remove(uv_target))
    for case in (pip, uv_case):  # warm-up: fills pip's cache, not counted
        case.once()
        case.samples.seconds.clear()
    runner.interleaved([mz, pip, uv_case], plan.repeat, log)
    for target in (pip_target, uv_target):
        runner.remove(target)
    results["pypi.mz"], results["pypi.pip"], results["pypi.uv"] = mz.samples, pip.samples, uv_case.samples


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (under 3 minutes with a warm bench cache)")
    parser.add_argument("--repeat", type=int, default=0, metavar="N", help="best of N (default 5, --quick 2)")
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


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    plan = Plan.of(args)
    if args.materialize:
        import shlex

        MATERIALIZE[:] = shlex.split(args.materialize)
    started = time.monotonic()

    def log(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    cache = args.cache_dir.resolve()
    load = workload.prepare(cache, log)
    setup_seconds = time.monotonic() - started
    log(f"workload ready in {setup_seconds:.1f} s: channel {load.channel.name}")
    results: dict[str, Samples] = {}
    root = make_run_dir(args.run_dir, cache)
    log(f"run folder: {root}")
    try:
        with servers.channel(load.channel) as channel_url, servers.pypi(load.index_dir) as index:
            world = World(root, channel_url, index.url, workload.PYTHON_MINOR)
            world.setup()
            for phase in (phase_lock, phase_install, phase_noop, phase_pypi):
                phase(world, plan, results, log)
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            runner.remove(root)
    total = time.monotonic() - started
    table = report.Table(results, load, plan, setup_seconds, total, quick=args.quick, run_dir=root.parent)
    if args.markdown:
        args.markdown.write_text(table.markdown())
    if args.json:
        args.json.write_text(json.dumps({k: v.seconds for k, v in results.items()}, indent=1, sort_keys=True))
    print(table.text())
    print(table.last_line())
    return 1 if args.check and not table.all_met() else 0
