"""The prefix read by the tools other people use: conda-pack packs it (and its unpacked copy runs
after conda-unpack), rattler reads every record and sees nothing to do, and conda-meta holds the
fields conda and micromamba write, with no cache path and no time stamp."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile

import pytest

from tests.helpers import BIN, run_python
from tests.prefix_checks import base_and_next, installed_once, snapshot, tree_diff

CONDA_PACK = BIN / "conda-pack"
IMPORTS = "import tinyweb, condapy, six, coreserver, coreserial, tinydep, pip"


@pytest.fixture(scope="module")
def projects(tmp_path_factory, channel_url, pypi, core_file, shared_cache):
    return base_and_next(tmp_path_factory, channel_url, pypi.url, core_file, shared_cache, "readers")


@pytest.fixture(scope="module")
def installed(tmp_path_factory, projects, shared_cache):
    return installed_once(tmp_path_factory, projects["base"], shared_cache, "readers")


def test_conda_meta_holds_what_conda_writes(installed, projects):
    lock = (projects["base"] / "materialize-lock.yml").read_text()
    for path in sorted((installed / "conda-meta").glob("*.json")):
        record = json.loads(path.read_text())
        for key in ("name", "version", "build", "build_number", "channel", "depends", "files", "fn", "link",
                    "md5", "paths_data", "requested_spec", "requested_specs", "sha256", "size", "subdir", "url"):
            assert key in record, f"{path.name} lacks {key}"
        assert record["link"] == {"source": "", "type": 3}
        assert record["url"] in lock and record["md5"] in lock and record["sha256"] in lock
        assert "extracted_package_dir" not in record and "package_tarball_full_path" not in record
        assert path.stat().st_mode & 0o777 == 0o644
    requested = json.loads((installed / "conda-meta" / "condapy-1.0-py_0.json").read_text())
    assert requested["requested_spec"] == "condapy=1.0" and requested["requested_specs"] == ["condapy=1.0"]
    leaf = json.loads(next((installed / "conda-meta").glob("tinyleaf-*.json")).read_text())
    assert leaf["requested_spec"] == "" and leaf["requested_specs"] == []  # a dependency nobody asked for


def test_conda_pack_packs_it_and_the_unpacked_copy_runs(installed, tmp_path):
    archive = tmp_path / "env.tar.gz"
    done = subprocess.run([str(CONDA_PACK), "-p", str(installed), "-o", str(archive)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    unpacked = tmp_path / "elsewhere" / "env"
    unpacked.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="tar" if sys.version_info >= (3, 12) else None)
    done = subprocess.run([str(unpacked / "bin" / "conda-unpack")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ran = run_python(unpacked, f"{IMPORTS}; import sys; print(sys.prefix)")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == str(unpacked)
    assert str(installed) not in (unpacked / "bin" / "tinyapp").read_text()


def test_conda_pack_still_refuses_a_prefix_missing_a_conda_file(installed, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(installed, broken, symlinks=True)
    (broken / "share" / "tinyleaf" / "VERSION").unlink()
    done = subprocess.run([str(CONDA_PACK), "-p", str(broken), "-o", str(tmp_path / "x.tar.gz")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode != 0 and "deleted/overwritten" in done.stderr + done.stdout


RATTLER_NOOP = """
import asyncio, os, sys
from pathlib import Path
from rattler import PrefixRecord, install
prefix = Path(sys.argv[1])
records = [PrefixRecord.from_path(p) for p in sorted((prefix / "conda-meta").glob("*.json"))]
asyncio.run(install(records, target_prefix=prefix, installed_packages=records, show_progress=False))
print(len(records))
sys.stdout.flush()
os._exit(0)
"""


def test_rattler_reads_every_record_and_has_nothing_to_do(installed):
    before = snapshot(installed)
    done = subprocess.run([sys.executable, "-c", RATTLER_NOOP, str(installed)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) == len(list((installed / "conda-meta").glob("*.json")))
    (installed / "CACHEDIR.TAG").unlink()  # rattler tags every target prefix it touches
    assert tree_diff(before, snapshot(installed)) == []
