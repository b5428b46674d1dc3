"""Issue 12, the pip/conda table: requirements.txt and conda-packages.txt mean what pip and conda say they mean."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import yaml

from materialize.engines.conda import CHANNEL_ALIAS, _with_channel
from materialize.inputs.conda_specs import parse_text
from tests.helpers import lock_packages, pip_conf_for, run_python, write_project
from tests.world import git_repos, wheels


@pytest.fixture(scope="module")
def format_dists(pypi, tmp_path_factory):
    """fmtpkg 1.0 (wheel and sdist), fmtold 1.0 (wheel) + 2.0 (sdist only), srconly 1.0 (sdist only)."""
    folder = tmp_path_factory.mktemp("format-dists")
    made = {"fmtpkg-wheel": wheels.build_wheel(wheels.Dist("fmtpkg", "1.0"), folder),
            "fmtpkg-sdist": wheels.build_sdist(wheels.Dist("fmtpkg", "1.0"), folder),
            "fmtold-wheel": wheels.build_wheel(wheels.Dist("fmtold", "1.0"), folder),
            "fmtold-sdist": wheels.build_sdist(wheels.Dist("fmtold", "2.0"), folder),
            "srconly-sdist": wheels.build_sdist(wheels.Dist("srconly", "1.0"), folder)}
    pypi.add(*made.values())
    return made


def _lock(cli, project, channel_url, *extra, **kwargs):
    return cli.ok("lock", project, "--channel", channel_url, *extra, **kwargs)


def _pip_urls(project) -> dict[str, str]:
    data = yaml.safe_load((project / "materialize-lock.yml").read_text())
    return {p["name"]: p["url"] for p in data["package"] if p["manager"] == "pip"}


def _metadata(project) -> dict:
    return yaml.safe_load((project / "materialize-lock.yml").read_text())["metadata"]["custom_metadata"]


def test_index_url_and_extra_index_url_on_one_line(cli, tmp_path, channel_url, pypi, private_pypi):
    project = write_project(tmp_path / "p", requirements=(
        f"--index-url {pypi.url} --extra-index-url {private_pypi.url_with_auth()}\nprivpkg\ntinydep\n"))
    _lock(cli, project, channel_url)
    assert {"privpkg", "tinydep"} <= set(lock_packages(project / "materialize-lock.yml", "pip"))
    assert json.loads(_metadata(project)["materialize.indexes"]) == [pypi.url, private_pypi.url]
    assert private_pypi.password not in (project / "materialize-lock.yml").read_text()


def test_two_trusted_hosts_on_one_line_reach_uv(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url),
                            requirements=f"--trusted-host example.org --trusted-host={pypi.host}\ntinydep\n")
    done = _lock(cli, project, channel_url, "-vv")
    run = next(line for line in done.stderr.splitlines() if " pip compile " in line)
    assert f"--allow-insecure-host example.org --allow-insecure-host {pypi.host}" in run


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_any_strong_hash_binds_the_artifact(cli, tmp_path, channel_url, pypi, algorithm):
    wheel = pypi.packages_dir / "tinydep-1.0-py3-none-any.whl"
    right = hashlib.new(algorithm, wheel.read_bytes()).hexdigest()
    project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url),
                            requirements=f"tinydep==1.0 --hash={algorithm}:{right}\n")
    _lock(cli, project, channel_url)
    (project / "requirements.txt").write_text(f"tinydep==1.0 --hash={algorithm}:{'0' * len(right)}\n")
    done = cli.fails(6, "lock", project, "--channel", channel_url)
    assert "requirements.txt:1: tinydep 1.0: none of its artifacts for this target" in done.stderr


def test_md5_is_not_a_hash_pip_accepts(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", requirements="tinydep==1.0 --hash=md5:" + "0" * 32 + "\n")
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert ("requirements.txt:1: allowed hash algorithms for --hash are sha256, sha384, sha512 (not 'md5')"
            in done.stderr)


def test_hashes_that_match_only_the_sdist_pin_the_sdist(cli, tmp_path, channel_url, pypi, format_dists):
    sdist = hashlib.sha256(format_dists["fmtpkg-sdist"].read_bytes()).hexdigest()
    project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url),
                            requirements=f"fmtpkg==1.0 \\\n    --hash=sha256:{sdist}\n")
    _lock(cli, project, channel_url)
    assert _pip_urls(project)["fmtpkg"].endswith("/fmtpkg-1.0.tar.gz")


def test_no_binary_pins_the_sdist(cli, tmp_path, channel_url, pypi, format_dists):
    project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url), requirements="fmtpkg\n")
    _lock(cli, project, channel_url)
    assert _pip_urls(project)["fmtpkg"].endswith(".whl")
    (project / "requirements.txt").write_text("--no-binary fmtpkg\nfmtpkg\n")
    _lock(cli, project, channel_url)
    assert _pip_urls(project)["fmtpkg"].endswith("/fmtpkg-1.0.tar.gz")


def test_no_binary_in_pip_conf(cli, tmp_path, channel_url, pypi, format_dists):
    project = write_project(tmp_path / "p", requirements="fmtpkg\n",
                            pip_conf=pip_conf_for(pypi.url) + "no-binary = fmtpkg\n")
    _lock(cli, project, channel_url)
    assert _pip_urls(project)["fmtpkg"].endswith(".tar.gz")


def test_only_binary_refuses_sdists(cli, tmp_path, channel_url, pypi, format_dists):
    project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url), requirements="srconly\n")
    _lock(cli, project, channel_url)
    (project / "requirements.txt").write_text("--only-binary :all:\nsrconly\n")
    done = cli.fails(4, "lock", project, "--channel", channel_url)
    assert "srconly" in done.stderr


def test_prefer_binary_takes_the_older_wheel(cli, tmp_path, channel_url, pypi, format_dists):
    project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url), requirements="fmtold\n")
    _lock(cli, project, channel_url)
    assert lock_packages(project / "materialize-lock.yml", "pip")["fmtold"] == "2.0"
    (project / "requirements.txt").write_text("--prefer-binary\nfmtold\n")
    _lock(cli, project, channel_url, "--upgrade")
    assert lock_packages(project / "materialize-lock.yml", "pip")["fmtold"] == "1.0"
    (project / "requirements.txt").write_text("--prefer-binary\nfmtold\nsrconly\n")  # no wheel-only answer
    _lock(cli, project, channel_url, "--upgrade")
    assert lock_packages(project / "materialize-lock.yml", "pip")["fmtold"] == "2.0"


def test_find_links_is_relative_to_the_file_that_names_it(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url), requirements="-r sub/reqs.txt\n",
                            files={"sub/reqs.txt": "--find-links ./wheels\nlinkedpkg\n"})
    wheels.build_wheel(wheels.Dist("linkedpkg", "1.0"), project / "sub" / "wheels")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    _lock(cli, project, channel_url, cwd=elsewhere)
    assert _pip_urls(project)["linkedpkg"] == (project / "sub" / "wheels" / "linkedpkg-1.0-py3-none-any.whl").as_uri()


def test_missing_find_links_folder_is_an_input_error(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", requirements="--find-links ./wheels\ntinydep\n")
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert f"requirements.txt:1: --find-links ./wheels: no such directory {project / 'wheels'}" in done.stderr


def test_named_git_requirement_with_extras_and_a_token(cli, tmp_path, channel_url, pypi):
    repos = tmp_path / "repos"
    repos.mkdir()
    git_repos.make_git_repo(repos, "gitpkg", ["1.0"])
    token = "ghp_ExtrasToken_987654"
    with git_repos.serve_git_over_http(repos, auth=("gituser", token)) as base:
        host = base.split("://", 1)[1]
        project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url), files={".env": f"TOKEN={token}\n"},
                                requirements=f"gitpkg[extra] @ git+http://gituser:${{TOKEN}}@{host}/gitpkg.git@v1.0\n")
        _lock(cli, project, channel_url)
    urls = _pip_urls(project)
    assert "gitpkg" in urls and urls["gitpkg"].startswith(f"git+http://gituser:${{TOKEN}}@{host}/gitpkg.git@")
    assert token not in (project / "materialize-lock.yml").read_text()


@pytest.mark.parametrize("line", ["./localpkg[fast]", "./localpkg[fast] ; python_version >= '3.8'"])
def test_local_path_with_extras_and_marker(cli, tmp_path, channel_url, pypi, line):
    project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url), requirements=f"{line}\n")
    wheels.write_project(project / "localpkg", "localpkg", "0.5", kind="pyproject",
                         requires=['tinydep==1.0; extra == "fast"'])
    _lock(cli, project, channel_url)
    assert lock_packages(project / "materialize-lock.yml", "pip")["tinydep"] == "1.0"
    assert json.loads(_metadata(project)["materialize.local-projects"])[0]["name"] == "localpkg"


@pytest.mark.parametrize("encoding, data", [
    ("utf-8 BOM", b"\xef\xbb\xbftinydep==1.0\n"),
    ("utf-16", "tinydep==1.0\n".encode("utf-16")),
    ("PEP 263", "# -*- coding: latin-1 -*-\ntinydep==1.0  # caf\u00e9\n".encode("latin-1")),
])
def test_encodings_pip_decodes(cli, tmp_path, channel_url, pypi, encoding, data):
    project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url))
    (project / "requirements.txt").write_bytes(data)
    _lock(cli, project, channel_url)
    assert lock_packages(project / "materialize-lock.yml", "pip")["tinydep"] == "1.0"


def test_continuation_joins_without_a_space(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url), requirements="tiny\\\ndep==1.0\n")
    _lock(cli, project, channel_url)
    assert lock_packages(project / "materialize-lock.yml", "pip")["tinydep"] == "1.0"


def test_a_bare_wheel_file_is_a_local_wheel(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url),
                            requirements="simple-0.1-py2.py3-none-any.whl\n--require-hashes\n--no-require-hashes\n")
    wheel = wheels.build_wheel(wheels.Dist("simple", "0.1", python_tag="py2.py3"), project)
    _lock(cli, project, channel_url)
    assert _pip_urls(project)["simple"] == wheel.as_uri()
    cli.ok("install", project, "--prefix", tmp_path / "env")
    assert run_python(tmp_path / "env", "import simple; print(simple.__version__)").stdout.strip() == "0.1"


def test_channel_with_subdir(cli, tmp_path, channel, channel_url, pypi):
    project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url),
                            conda=f"{channel.name}/noarch::tinyleaf=1.0\n{channel_url}/linux-64::python\n")
    _lock(cli, project, channel_url)
    assert lock_packages(project / "materialize-lock.yml", "conda")["tinyleaf"] == "1.0"


def test_named_channel_with_subdir_maps_to_the_configured_channel():
    spec = parse_text("conda-forge/linux-64::numpy >=1.20\n").specs[0]
    assert (spec.channel, spec.subdir, spec.name) == ("conda-forge", "linux-64", "numpy")
    assert _with_channel(spec, ["conda-forge"], [CHANNEL_ALIAS + "conda-forge"]) == (
        "https://conda.anaconda.org/conda-forge/linux-64::numpy >=1.20")


def test_local_channels_stay_local(cli, tmp_path, channel, pypi, isolated):
    project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url), conda="./chan::tinyleaf=1.0\n",
                            files={"materialize.toml": 'channels = ["./chan"]\n'})
    os.symlink(channel, project / "chan")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    cli.ok("lock", project, cwd=elsewhere)
    data = yaml.safe_load((project / "materialize-lock.yml").read_text())
    assert [c["url"] for c in data["metadata"]["channels"]] == [(project / "chan").resolve().as_uri()]
    assert all(p["url"].startswith("file://") for p in data["package"] if p["manager"] == "conda")
    os.symlink(channel, isolated / "chan")
    (project / "conda-packages.txt").write_text("~/chan::tinyleaf=1.0\n")
    (project / "materialize.toml").unlink()
    cli.ok("lock", project, "--channel", "~/chan")
    cli.ok("lock", project, "--channel", str(channel))
    data = yaml.safe_load((project / "materialize-lock.yml").read_text())
    assert [c["url"] for c in data["metadata"]["channels"]] == [channel.resolve().as_uri()]


def test_unconfigured_local_channel_is_refused_not_sent_to_a_public_host(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", conda="./chan::tinyleaf\n")
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert f"channel '{(project / 'chan').resolve().as_uri()}' is not one of the configured channels" in done.stderr
    assert "anaconda.org" not in done.stderr


def test_channel_in_brackets_is_checked_too(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", conda="tinyleaf[channel=conda-forge, version='>=1']\n")
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert "conda-packages.txt:1: channel 'conda-forge' is not one of the configured channels" in done.stderr
    assert parse_text("tinyleaf[channel=conda-forge, version='>=1']").specs[0].spec == "tinyleaf >=1"


def test_an_explicit_file_is_named_as_such(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", conda=(
        "# platform: linux-64\n@EXPLICIT\nhttps://conda.anaconda.org/conda-forge/linux-64/"
        "numpy-1.26.4-py311h64a7726_0.conda#a502d7aad449a1206efb366d6a12c52d\n"))
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert "error: conda-packages.txt:2: '@EXPLICIT': this is the @EXPLICIT format (`conda list --explicit`)" \
        in done.stderr
    assert "hint: write the specs with `conda list --export`" in done.stderr
