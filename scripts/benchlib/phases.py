"""The bench's measurements on its workload, each materialize side by side with its baseline.

1. lock, cold caches: ``materialize lock`` with empty caches vs ``raw_lock.py`` with empty caches;
   the channel server counts the archive bytes materialize fetched.         -> lock-bytes-fraction
2. lock, warm caches, no previous lockfile: ``materialize lock`` vs ``raw_lock.py`` (rattler solve
   + ``uv pip compile``).                                                             -> lock-ratio
3. install, cold then warm: the first install into empty caches is the cold sample (and warms
   them); then fresh prefixes: ``materialize install`` vs ``raw_install.py`` (rattler install +
   ``uv pip install``, the flags materialize passes).     -> cold-install-ratio, warm-install-ratio
4. no-op install (the prefix already matches) vs ``python -c pass``.              -> noop-ratio
5. the PyPI part: ``materialize install`` of the full lock into a prefix that holds only its conda
   part vs ``uv pip install`` and ``pip install`` of the same hashed wheels into a prefix that
   holds only the same conda part (linked by rattler).                  -> pypi-ratio, pip-speedup
"""

from __future__ import annotations

import uv

from . import runner
from .runner import Case, Samples
from .world import RAW_LINK, RAW_VALIDATION, World


def lock_cold(world: World, plan, results: dict[str, Samples], log, channel) -> None:
    log("lock, cold caches (archive bytes counted by the channel server) ...")
    mz, raw = Samples("materialize lock (cold)"), Samples("rattler solve + uv pip compile (cold)")
    fetched = Samples("archive bytes fetched by materialize lock", unit="B")
    for round_ in range(plan.cold_repeat):
        # the first round uses the warm phase's caches: it fills them
        mz_env, raw_env = (world.mz_lock_env, world.raw_env) if round_ == 0 else world.fresh_lock_envs(str(round_))
        world.lockfile.unlink(missing_ok=True)
        before = channel.archive_bytes()
        mz.add(runner.run(world.mz_lock(), mz_env))
        fetched.values.append(channel.archive_bytes() - before)
        raw.add(runner.run(world.raw_lock(world.path("raw-lock")), raw_env))
        log(f"  cold {round_ + 1}/{plan.cold_repeat}: materialize {mz.values[-1]:.2f} s "
            f"({fetched.values[-1] / 1e6:.2f} MB of archives), raw {raw.values[-1]:.2f} s")
        if round_:
            runner.remove(world.path(f"cold-{round_}"))
    total = Samples("the locked archives, whole", unit="B")
    total.values.append(float(world.archive_bytes_in_lock(world.lockfile)))
    results.update({"lock-cold.mz": mz, "lock-cold.raw": raw, "lock-bytes.mz": fetched, "lock-bytes.total": total})


def warm_lock_cases(world: World) -> tuple[Case, Case]:
    """``materialize lock`` (no previous lockfile) and the raw engines' lock, on ``world``'s inputs."""
    mz = Case(Samples("materialize lock"), world.mz_lock, world.mz_lock_env,
              prepare=lambda: world.lockfile.unlink(missing_ok=True))
    raw = Case(Samples("rattler solve + uv pip compile"), lambda: world.raw_lock(world.path("raw-lock")),
               world.raw_env)
    return mz, raw


def lock_warm(world: World, plan, results: dict[str, Samples], log) -> None:
    log("lock, warm caches, no previous lockfile ...")
    mz, raw = warm_lock_cases(world)
    runner.warm_up([mz, raw])
    runner.interleaved([mz, raw], plan.repeat, log)
    results["lock.mz"], results["lock.raw"] = mz.samples, raw.samples
    world.freeze_locks()


def install(world: World, plan, results: dict[str, Samples], log) -> None:
    mz_prefix, raw_prefix = world.path("prefixes", "mz"), world.path("prefixes", "raw")
    raw_cache = world.path("raw-cache", "rattler")

    log("install, cold caches (local servers) ...")
    mz_cold, raw_cold = Samples("materialize install (cold)"), Samples("rattler + uv install (cold)")
    for round_ in range(plan.cold_repeat):
        first = round_ == 0  # the first cold install fills the caches the warm installs use
        mz_cache = world.path("mz-cache") if first else world.path(f"mz-cold-{round_}")
        raw_caches = (raw_cache, world.path("raw-cache", "uv")) if first else (
            world.path(f"raw-cold-{round_}", "rattler"), world.path(f"raw-cold-{round_}", "uv"))
        mz_env = {**world.mz_env, "MATERIALIZE_CACHE_DIR": str(mz_cache)}
        raw_env = {**world.raw_env, "UV_CACHE_DIR": str(raw_caches[1])}
        for prefix in (mz_prefix, raw_prefix):
            runner.remove(prefix)
        mz_cold.add(runner.run(world.mz_install(world.full_lock, mz_prefix), mz_env))
        raw_cold.add(runner.run(world.raw_install(world.full_lock, raw_prefix, raw_caches[0], offline=False), raw_env))
        log(f"  cold {round_ + 1}/{plan.cold_repeat}: materialize {mz_cold.values[-1]:.2f} s, "
            f"raw {raw_cold.values[-1]:.2f} s")
        if not first:
            for path in (mz_cache, world.path(f"raw-cold-{round_}")):
                runner.remove(path)
    results["cold.mz"], results["cold.raw"] = mz_cold, raw_cold

    log("install, warm caches, fresh prefix ...")
    mz = Case(Samples("materialize install (warm)"), lambda: world.mz_install(world.full_lock, mz_prefix),
              world.mz_env, prepare=lambda: runner.remove(mz_prefix))
    raw = Case(Samples(f"rattler ({RAW_LINK}, {RAW_VALIDATION}) + uv install"),
               lambda: world.raw_install(world.full_lock, raw_prefix, raw_cache), world.raw_env,
               prepare=lambda: runner.remove(raw_prefix))
    cases = [mz, raw]
    if plan.record_defaults:
        cases.append(Case(Samples("rattler (defaults: hardlink, fast) + uv install"),
                          lambda: world.raw_install(world.full_lock, raw_prefix, raw_cache, "hardlink", "fast"),
                          world.raw_env, prepare=lambda: runner.remove(raw_prefix)))
    runner.interleaved(cases, plan.repeat, log)
    runner.remove(raw_prefix)
    results["warm.mz"], results["warm.raw"] = mz.samples, raw.samples
    if plan.record_defaults:
        results["warm.raw-defaults"] = cases[2].samples


def noop(world: World, plan, results: dict[str, Samples], log) -> None:
    import sys

    log("no-op install (the prefix already matches the lock) ...")
    prefix = world.path("prefixes", "mz")
    mz = Case(Samples("materialize install (no-op)"), lambda: world.mz_install(world.full_lock, prefix), world.mz_env)
    bare = Case(Samples("python -c pass"), lambda: [sys.executable, "-c", "pass"], world.mz_env)
    runner.warm_up([mz, bare])  # the prefix must really be up to date (and the page cache warm)
    runner.interleaved([mz, bare], plan.noop_repeat, lambda line: None)
    log(f"  best of {plan.noop_repeat}: materialize {mz.samples.best * 1000:.1f} ms, "
        f"python -c pass {bare.samples.best * 1000:.1f} ms")
    results["noop.mz"], results["noop.python"] = mz.samples, bare.samples


def pypi_part(world: World, plan, results: dict[str, Samples], log) -> None:
    log("the PyPI part: materialize vs uv vs pip (same hashed wheels, warm caches, into the conda part) ...")
    prefix = world.path("prefixes", "mz")  # holds the full lock after the no-op phase
    raw_prefix, raw_cache = world.path("prefixes", "raw-conda-part"), world.path("raw-cache", "rattler")
    python = raw_prefix / "bin" / "python"

    def conda_part_only() -> None:  # untimed: rattler links the same conda part afresh
        runner.remove(raw_prefix)
        runner.run(world.raw_install(world.conda_lock, raw_prefix, raw_cache, conda_only=True), world.raw_env)

    mz = Case(Samples("materialize install (PyPI part)"), lambda: world.mz_install(world.full_lock, prefix),
              world.mz_env, prepare=lambda: runner.run(world.mz_install(world.conda_lock, prefix), world.mz_env))
    uv_case = Case(Samples("uv pip install --no-deps --require-hashes"),
                   lambda: [uv.find_uv_bin(), "pip", "install", "--no-config", "--no-python-downloads", "-q",
                            "--python", str(python), "--no-deps", "--require-hashes", "--link-mode", "copy",
                            "--offline", "-r", str(world.hashed)],
                   world.raw_env, prepare=conda_part_only)
    pip = Case(Samples("pip install --no-deps --require-hashes"),
               lambda: [str(python), "-m", "pip", "install", "--isolated", "--disable-pip-version-check", "--no-input",
                        "-q", "--no-deps", "--require-hashes", "--no-compile", "--cache-dir", str(world.path("pip-cache")),
                        "-r", str(world.hashed)],
               world.pip_env, prepare=conda_part_only)
    runner.warm_up([pip])  # fills pip's cache, not counted
    runner.interleaved([mz, uv_case, pip], plan.repeat, log)
    runner.remove(raw_prefix)
    results["pypi.mz"], results["pypi.uv"], results["pypi.pip"] = mz.samples, uv_case.samples, pip.samples
