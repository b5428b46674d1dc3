"""The benchmark's workload: real PyPI wheels, downloaded once, served two ways.

* The CONDA set: pure-Python wheels repackaged as ``noarch: python`` conda packages (their real
  files, sizes and console scripts), plus a relocatable CPython 3.11 ``python`` package made from
  an interpreter tree on this machine (``tests/world/interpreters.py``), indexed as a local channel.
* The PYPI set: real wheels (mostly compiled manylinux ones) served by a local pypiserver. The
  index also carries the conda set's wheels, as PyPI would, so that uv can resolve a PyPI
  package's dependency on a conda-provided distribution; materialize keeps those out of the lock.

The two sets are disjoint distributions. Versions are pinned so that runs stay comparable; the
wheels land in ``<cache>/wheels/`` once and are reused by every later run.
"""

from __future__ import annotations

import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.world import interpreters, wheel_mirror  # noqa: E402

PYTHON_MINOR = "3.11"
WORKLOAD_VERSION = 1  # bump when the sets change how the channel is made: a new channel is built

# 177 pure-Python distributions, repackaged as noarch: python conda packages (pip included).
CONDA_SET = """
alabaster==1.0.0 alembic==1.20.1 anyio==4.16.0 arrow==1.4.0 asgiref==3.13.0 asttokens==3.0.2 attrs==26.1.0
babel==2.18.0 backoff==2.2.1 beautifulsoup4==4.15.0 bleach==6.4.0 blinker==1.9.0 boto3==1.44.5 botocore==1.44.5
build==1.6.1 cachecontrol==0.14.4 cachetools==8.0.1 certifi==2026.10.18 chardet==7.7.0 click==8.5.1
cloudpickle==3.1.2 colorama==0.4.6 comm==0.2.3 croniter==7.0.0 cycler==0.12.1 dask==2026.8.0 decorator==5.3.1
defusedxml==0.7.1 deprecated==1.3.1 dill==0.4.1 distlib==0.4.4 distro==1.9.0 django==5.2.19 dnspython==2.9.2
docstring-parser==0.18.0 docutils==0.23 email-validator==2.4.0 et-xmlfile==2.0.0 executing==2.3.0
fastapi==0.165.0 fastjsonschema==2.22.3 filelock==4.2.12 flake8==7.5.0 flask==3.1.3 fsspec==2026.9.0
gitdb==4.0.12 gitpython==3.2.1 google-auth==2.62.2 gunicorn==27.0.1 h11==0.16.0 html5lib==1.1 httpcore==1.0.9
httpx==0.28.1 humanize==4.17.0 hypothesis==6.155.7 idna==3.20 imagesize==2.0.1 importlib-metadata==10.2.0
importlib-resources==7.1.0 iniconfig==2.3.1 installer==1.1.0 ipython-pygments-lexers==1.1.1 ipython==9.18.1
isodate==0.7.2 isort==9.0.2 itsdangerous==2.2.0 jedi==0.20.1 jinja2==3.1.6 jmespath==1.1.0 joblib==1.6.0
jsonpatch==1.47 jsonpointer==3.12 jsonschema-specifications==2025.9.1 jsonschema==4.26.0 jupyter-core==5.9.1
locket==1.0.0 loguru==0.7.3 mako==1.4.3 markdown-it-py==4.3.0 marshmallow==4.4.0 matplotlib-inline==0.2.2
mccabe==0.7.0 mdurl==0.1.2 mistune==3.4.0 more-itertools==11.2.1 mpmath==1.4.1 mypy-extensions==1.2.0
nbformat==5.11.1 nest-asyncio==1.6.0 networkx==3.6.1 nltk==3.10.4 oauthlib==4.0.1 openpyxl==3.1.5
packaging==26.3 parso==0.8.7 partd==1.4.2 pathspec==1.1.1 pexpect==4.9.0 pip==26.3 platformdirs==4.14.7
pluggy==1.7.0 portalocker==4.4.2 prompt-toolkit==3.0.53 ptyprocess==0.7.0 pure-eval==0.2.4
pyasn1-modules==0.4.2 pyasn1==0.6.5 pycodestyle==2.15.0 pycparser==3.12 pyflakes==4.1.0 pygments==2.21.0
pyjwt==2.15.1 pyparsing==3.3.3 pyproject-hooks==1.3.3 pyserial==3.5 pytest==9.2.0 python-dateutil==4.0.0
python-dotenv==1.2.4 python-json-logger==4.2.0 python-multipart==0.0.34 python-slugify==9.2.0 pytz==2026.6
referencing==0.37.0 requests-oauthlib==2.0.0 requests==2.34.2 rich==15.0.0 rsa==4.9.1 s3transfer==0.19.3
schedule==1.2.2 setuptools==84.2.1 shellingham==1.5.4 six==1.17.0 smmap==5.0.3 sniffio==1.3.1
snowballstemmer==3.1.1 sortedcontainers==2.4.0 soupsieve==2.10 sphinx==9.0.4 sphinxcontrib-applehelp==2.0.0
sphinxcontrib-devhelp==2.0.0 sphinxcontrib-htmlhelp==2.1.0 sphinxcontrib-jsmath==2.0.0
sphinxcontrib-qthelp==2.0.0 sphinxcontrib-serializinghtml==2.0.0 sqlparse==0.6.1 stack-data==0.6.3
starlette==1.10.0 structlog==26.1.0 sympy==1.14.0 tabulate==0.10.0 tenacity==9.2.1 termcolor==3.3.0
text-unidecode==1.3 threadpoolctl==3.8.0 tinycss2==1.5.1 toml==0.10.2 tomli==2.5.0 tomlkit==0.15.2 toolz==1.2.0
tqdm==4.70.1 traitlets==5.16.1 trove-classifiers==2026.9.21.13 typer==0.29.2 typing-extensions==4.16.0
tzdata==2026.6 tzlocal==5.4.5 unidecode==1.4.0 urllib3==2.8.0 uvicorn==0.54.0 virtualenv==21.15.8
wcwidth==0.9.4 webencodings==0.6.1 werkzeug==3.1.9 wheel==0.48.0 xlrd==2.0.2 xmltodict==1.0.4 zipp==4.1.2
""".split()

# 51 distributions installed from the local index (cp311 manylinux wheels where they exist).
PYPI_SET = """
aiohappyeyeballs==2.7.1 aiohttp==3.14.5 aiosignal==1.4.0 annotated-types==0.8.0 bcrypt==5.0.0 brotli==1.2.1
cffi==2.1.1 charset-normalizer==3.5.2 contourpy==1.3.3 coverage==7.17.3 cryptography==50.0.2 fonttools==4.68.0
frozenlist==1.8.0 google-crc32c==1.9.0 greenlet==3.5.6 httptools==0.9.0 kiwisolver==1.5.1 lxml==6.1.3 lz4==4.4.5
markupsafe==3.0.4 matplotlib==3.11.2 mmh3==5.3.1 msgpack==1.2.4 multidict==7.2.1 numpy==2.4.6 orjson==3.13.0
pandas==3.1.1 pillow==13.0.0 propcache==0.5.4 protobuf==7.36.2 psutil==7.2.2 pydantic-core==2.50.4
pydantic==2.14.3 pynacl==1.6.2 pyyaml==6.0.3 pyzmq==27.3.0 regex==2026.11.15 rpds-py==2026.9.1
setproctitle==1.3.8 simplejson==4.3.0 sqlalchemy==2.1.9 tornado==6.6.1 typing-inspection==0.4.5 ujson==6.1.0
uvloop==0.23.0 watchfiles==1.3.0 websockets==17.4 wrapt==2.5.2 xxhash==4.1.0 yarl==1.25.1 zstandard==0.25.0
""".split()

CORE = ("pyyaml", "orjson")  # the bench's "core requirements" (materialize always locks a core set)

_PURE_TAGS = wheel_mirror.pure_tags()
_CP311_TAGS = wheel_mirror.binary_tags(PYTHON_MINOR)
_wheel_key = wheel_mirror.wheel_key


def names(pins: list[str]) -> list[str]:
    return [p.split("==")[0] for p in pins]


@dataclass(frozen=True)
class Workload:
    conda_wheels: list[Path]
    pypi_wheels: list[Path]
    channel: Path  # the indexed conda channel directory
    index_dir: Path  # every wheel, for pypiserver
    python_version: str
    stats: dict


def download(pins: list[str], folder: Path, tags: list[str], log) -> list[Path]:
    return wheel_mirror.download(pins, folder, tags, PYTHON_MINOR, log)


# The wheel -> conda package conversion and the channel build live in tests/world/wheel_mirror.py
# (the demo's mirror uses them too).


def find_python() -> interpreters.Interpreter:
    for interp in interpreters.find_interpreters():
        if interp.minor == PYTHON_MINOR:
            return interp
    raise SystemExit(f"no CPython {PYTHON_MINOR} tree on this machine (pyenv install {PYTHON_MINOR})")


def build_channel(cache: Path, conda_wheels: list[Path], interp: interpreters.Interpreter, log) -> Path:
    return wheel_mirror.build_channel(cache / "channels", conda_wheels, interp, log, salt=f"bench-v{WORKLOAD_VERSION}")


def build_index(cache: Path, wheels: list[Path]) -> Path:
    """``<cache>/index``: hard links to every wheel (pypiserver serves one folder)."""
    return wheel_mirror.link_index(cache / "index", wheels)


def _stats(conda_wheels: list[Path], pypi_wheels: list[Path], channel: Path) -> dict:
    def wheel_stats(wheels: list[Path]) -> tuple[int, int, int]:
        files = size = 0
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir()]
                files += len(infos)
                size += sum(i.file_size for i in infos)
        return len(wheels), files, size

    python_pkg = next(channel.glob("linux-64/python-*.conda"))
    conda_bytes = sum(p.stat().st_size for p in channel.glob("*/*.conda"))
    return {"conda": wheel_stats(conda_wheels), "pypi": wheel_stats(pypi_wheels), "python_archive": python_pkg.name,
            "conda_archive_bytes": conda_bytes}


def prepare(cache: Path, log) -> Workload:
    """Download what is missing, build the channel if its key changed, link the index."""
    conda_wheels = download(CONDA_SET, cache / "wheels" / "conda", _PURE_TAGS, log)
    pypi_wheels = download(PYPI_SET, cache / "wheels" / "pypi", _CP311_TAGS, log)
    overlap = {_wheel_key(w)[0] for w in conda_wheels} & {_wheel_key(w)[0] for w in pypi_wheels}
    if overlap:
        raise SystemExit(f"the conda and PyPI sets must be disjoint; both hold {sorted(overlap)}")
    interp = find_python()
    channel = build_channel(cache, conda_wheels, interp, log)
    index = build_index(cache, conda_wheels + pypi_wheels)
    stats_file = channel / "bench-stats.json"
    if not stats_file.is_file():
        stats_file.write_text(json.dumps(_stats(conda_wheels, pypi_wheels, channel)))
    return Workload(conda_wheels, pypi_wheels, channel, index, interp.version, json.loads(stats_file.read_text()))
