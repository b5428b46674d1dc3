"""``--real``: three realistic serving sets resolved from the public PyPI against the bench's channel.

Needs the network (pypi.org); CI never runs it. Each set is a project with a small conda part from
the bench channel (python, pip and a few pure-Python libraries) and a requirements.txt of a real
serving stack, markers included. For each set, side by side on the same inputs:

* lock, warm caches: ``materialize lock`` vs ``raw_lock.py`` (rattler solve + a direct
  ``uv pip compile`` of the same requirements, core file and conda pins, against pypi.org);
* install, warm caches, fresh prefix: ``materialize install`` vs ``raw_install.py`` (rattler +
  ``uv pip install`` of the same lockfile). The first install of each side (cold caches, the
  wheels come from files.pythonhosted.org) warms the caches and is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import phases, runner
from .runner import Case, Samples
from .world import World

PYPI = "https://pypi.org/simple"


@dataclass(frozen=True)
class RealSet:
    name: str
    conda: tuple[str, ...]
    requirements: tuple[str, ...]


SETS = (
    RealSet("flask-sklearn-pandas",
            ("python", "pip", "flask", "gunicorn", "joblib", "threadpoolctl", "python-dateutil", "pytz", "tzdata"),
            ("flask>=3", "gunicorn>=22", "scikit-learn>=1.4", "pandas>=2.1", "numpy>=1.26", "prometheus-client")),
    RealSet("transformers-tokenizers",
            ("python", "pip", "tqdm", "requests", "packaging", "filelock", "fsspec", "typing-extensions"),
            ("transformers>=4.40", "tokenizers>=0.19", "safetensors>=0.4", "huggingface-hub", "fastapi>=0.110",
             "uvicorn>=0.29")),
    RealSet("requests-uvicorn-psycopg",
            ("python", "pip", "click", "h11", "idna", "certifi", "anyio", "sniffio"),
            ("requests[socks]>=2.31", "uvicorn[standard]>=0.30", "psycopg[binary]>=3.1",
             'tomli>=2; python_version < "3.11"', 'pywin32>=306; sys_platform == "win32"',
             'uvloop>=0.19; sys_platform != "win32" and platform_python_implementation == "CPython"',
             'colorama; os_name == "nt"', 'exceptiongroup; python_version < "3.11"')),
)


def run_set(real: RealSet, world: World, plan, results: dict[str, Samples], log) -> None:
    key = f"real.{real.name}"
    log(f"real set {real.name}: lock (warm caches; the first run of each side fills them) ...")
    mz, raw = phases.warm_lock_cases(world)
    runner.warm_up([mz, raw])
    runner.interleaved([mz, raw], plan.repeat, log)
    results[f"{key}.lock.mz"], results[f"{key}.lock.raw"] = mz.samples, raw.samples
    world.freeze_locks()

    log(f"real set {real.name}: install (warm caches, fresh prefix; the first install downloads) ...")
    mz_prefix, raw_prefix = world.path("prefixes", "mz"), world.path("prefixes", "raw")
    raw_cache = world.path("raw-cache", "rattler")
    mz = Case(Samples("materialize install (warm)"), lambda: world.mz_install(world.full_lock, mz_prefix),
              world.mz_env, prepare=lambda: runner.remove(mz_prefix))
    raw = Case(Samples("rattler + uv install (warm)"), lambda: world.raw_install(world.full_lock, raw_prefix, raw_cache),
               world.raw_env, prepare=lambda: runner.remove(raw_prefix))
    runner.run(world.raw_install(world.full_lock, raw_prefix, raw_cache, offline=False), world.raw_env)  # downloads
    runner.warm_up([mz])
    runner.interleaved([mz, raw], plan.repeat, log)
    for prefix in (mz_prefix, raw_prefix):
        runner.remove(prefix)
    results[f"{key}.install.mz"], results[f"{key}.install.raw"] = mz.samples, raw.samples


def run_all(make_world, plan, results: dict[str, Samples], log) -> None:
    """``make_world(name, conda, requirements)`` gives each set its own run folder."""
    for real in SETS:
        world = make_world(real.name, list(real.conda), list(real.requirements))
        try:
            run_set(real, world, plan, results, log)
        finally:
            runner.remove(world.root)
