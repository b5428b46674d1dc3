"""Issue 3: conda-packages.txt in the `conda list --export` format and any MatchSpec conda accepts."""

from __future__ import annotations

import pytest

from materialize.inputs.conda_specs import parse_text
from materialize.errors import InputError
from tests.helpers import lock_packages, pip_conf_for, write_project

EXPORT = """\
# This file may be used to create an environment using:
# $ conda create --name <env> --file <this file>
# platform: linux-64

tinyleaf=1.0=0
condapy=1.0=py_0   # with a comment at the end
"""


def test_export_format_header_and_comments():
    parsed = parse_text(EXPORT)
    assert parsed.platform == "linux-64" and parsed.platform_line == 3
    assert [(s.name, s.spec, s.line) for s in parsed.specs] == [
        ("tinyleaf", "tinyleaf ==1.0 0", 5), ("condapy", "condapy ==1.0 py_0", 6)]


@pytest.mark.parametrize("line, spec", [
    ("numpy>=1.20", "numpy >=1.20"),
    ("numpy 1.20.*", "numpy 1.20.*"),
    ("numpy=1.20", "numpy 1.20.*"),
    ("numpy==1.20.1", "numpy ==1.20.1"),
    ("conda-forge::rdkit", "rdkit"),
])
def test_matchspec_forms(line, spec):
    assert parse_text(line).specs[0].spec == spec


def test_channel_prefix_is_kept_apart():
    parsed = parse_text("conda-forge::rdkit=2020.09.1\n")
    assert (parsed.specs[0].channel, parsed.specs[0].name) == ("conda-forge", "rdkit")


@pytest.mark.parametrize("text, message", [
    ("tinyleaf\nbad spec !!\n", "conda-packages.txt:2: 'bad spec !!': invalid build string '!!'"),
    ("=1.0\n", "conda-packages.txt:1: '=1.0': missing package name"),
    ("numpy=\n", "conda-packages.txt:1: 'numpy=': unable to parse version spec: ="),
    ("::numpy\n", "conda-packages.txt:1: '::numpy': empty channel before '::'"),
    ("a\nb\na>=1\n", "conda-packages.txt:3: 'a' is already requested on line 1"),
])
def test_bad_lines_name_file_and_line(text, message):
    with pytest.raises(InputError) as caught:
        parse_text(text)
    assert str(caught.value) == message


def test_platform_header_must_match_the_locked_platform(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", conda="# platform: osx-arm64\ntinyapp\n")
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert "conda-packages.txt:1: '# platform: osx-arm64' does not match" in done.stderr


def test_channel_name_maps_to_the_configured_channel(cli, tmp_path, channel, channel_url, pypi):
    project = write_project(tmp_path / "p", conda=f"{channel.name}::tinyleaf=1.0\n", pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    assert lock_packages(project / "materialize-lock.yml", "conda")["tinyleaf"] == "1.0"


def test_unknown_channel_name_is_an_input_error(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", conda="tinyapp\nconda-forge::tinyleaf\n")
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert "conda-packages.txt:2: channel 'conda-forge' is not one of the configured channels" in done.stderr
