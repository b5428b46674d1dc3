"""A local mirror holding the names ``examples/iris-classifier`` asks for, built from real PyPI wheels.

* conda side: the example's conda packages (numpy, scikit-learn and what they need, pip) repackaged
  from their PyPI wheels by ``tests/world/wheel_mirror.py`` (pure wheels as ``noarch: python``, the
  compiled ones for this host's subdir), plus a relocatable ``python`` made from an interpreter tree
  on this machine, indexed as a conda channel;
* PyPI side: the wheels of the example's requirements and of the default core set, for a pypiserver
  (it also serves the conda set's wheels, as PyPI would).

Versions are pinned, so that the demo does the same work on every machine: what conda-forge and
PyPI resolve for Python 3.11 on linux-64 (checked against PyPI's metadata; every one of them has
CPython 3.11 to 3.14 wheels). Wheels come from PyPI on the first run and are kept in ``cache``.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.world import interpreters, wheel_mirror  # noqa: E402

# conda-packages.txt: numpy, scikit-learn (and what scikit-learn needs); pip, which materialize adds.
CONDA_SET = """
numpy==2.4.6 scipy==1.17.1 scikit-learn==1.9.1 joblib==1.6.0 threadpoolctl==3.8.0 narwhals==2.29.0
cloudpickle==3.1.3 pip==26.3
""".split()

# requirements.txt asks for fastapi and uvicorn, which the default core set (fastapi, uvicorn, msgpack)
# also holds: the PyPI side is exactly the pins of the shipped core lock for this Python and host, so
# that a refresh of lockfiles/ (scripts/lock-core) moves the demo's mirror with it.
def pypi_set(python_minor: str, platform_name: str) -> list[str]:
    from materialize.resolve import core

    lock = core.read(core.BUILTIN / "default" / core.file_name(python_minor, platform_name))
    return [f"{pin.name}=={pin.version}" for pin in sorted(lock.pins.values(), key=lambda pin: pin.name)]


SUPPORTED = ("3.11", "3.12", "3.13", "3.14")  # the minors every pinned wheel exists for
SALT = "demo-v1"  # part of the channel's key: change it to force a rebuild


@dataclass(frozen=True)
class Mirror:
    channel: Path  # the indexed conda channel folder
    index: Path  # the wheel folder pypiserver serves
    python: interpreters.Interpreter
    conda_wheels: list[Path]
    pypi_wheels: list[Path]


def choose_python(wanted_minor: str) -> interpreters.Interpreter:
    """The CPython tree of ``wanted_minor`` on this machine, else the running one (when supported)."""
    found = {i.minor: i for i in interpreters.find_interpreters()}
    if wanted_minor in found:
        return found[wanted_minor]
    running = found["%d.%d" % sys.version_info[:2]]
    if running.minor not in SUPPORTED:
        raise SystemExit(f"the demo needs a CPython {wanted_minor} tree (the example's python) or runs under one "
                         f"of {', '.join(SUPPORTED)}; this is {running.version} and no {wanted_minor} was found")
    return running


def build(cache: Path, python: interpreters.Interpreter, log) -> Mirror:
    """Download what is missing, build the channel if its key changed, link the index folder."""
    tags = wheel_mirror.binary_tags(python.minor, platform.machine())
    conda_wheels = wheel_mirror.download(CONDA_SET, cache / "wheels" / python.minor, tags, python.minor, log)
    from materialize import platforms

    wanted = pypi_set(python.minor, platforms.host())
    pypi_wheels = wheel_mirror.download(wanted, cache / "wheels" / python.minor, tags, python.minor, log)
    channel = wheel_mirror.build_channel(cache / "channels", conda_wheels, python, log, salt=SALT)
    index = wheel_mirror.link_index(cache / "index" / python.minor, conda_wheels + pypi_wheels)
    return Mirror(channel, index, python, conda_wheels, pypi_wheels)
