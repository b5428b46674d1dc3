"""Interop: conda-lock reads and renders our lockfile; `export` writes @EXPLICIT, PEP 751 pylock.toml
and hashed requirements.txt that conda-lock, rattler and uv accept as they are."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from tests.helpers import BIN, pip_conf_for, run_python, write_project
from tests.world import git_repos, wheels

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

THREE = ("linux-64", "linux-aarch64", "osx-arm64")


def _locked(cli, tmp_path, channel_url, pypi, *, requirements="tinyweb\n", platforms=THREE) -> Path:
    project = write_project(tmp_path / "proj", conda="tinyapp\ncondapy=1.0\n", requirements=requirements,
                            pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url, *[a for p in platforms for a in ("--platform", p)])
    return project


def _entries(project: Path, manager: str, platform: str) -> dict[str, dict]:
    data = yaml.safe_load((project / "materialize-lock.yml").read_text())
    return {p["name"]: p for p in data["package"] if p["manager"] == manager and p["platform"] == platform}


def _explicit_lines(text: str) -> list[str]:
    body = text.split("@EXPLICIT\n", 1)[1]
    return [line for line in body.splitlines() if line and not line.startswith("#")]


def _uv(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    from uv import find_uv_bin

    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV", "PIP_"))}
    return subprocess.run([find_uv_bin(), *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=180, stdin=subprocess.DEVNULL)


def _venv(path: Path) -> Path:
    done = _uv("venv", "--no-config", "--no-python-downloads", "-q", "--python", sys.executable, path)
    assert done.returncode == 0, done.stderr
    return path / "bin" / "python"


def _uv_install(python: Path, *args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return _uv("pip", "install", "--no-config", "--no-python-downloads", "--python", python, *args, cwd=cwd)


# --- conda-lock reads and renders our lockfile ------------------------------------------------


def test_conda_lock_parses_and_renders_our_lockfile(cli, tmp_path, channel_url, pypi):
    from conda_lock.lockfile import parse_conda_lock_file

    project = _locked(cli, tmp_path, channel_url, pypi)
    lockfile = project / "materialize-lock.yml"
    parsed = parse_conda_lock_file(lockfile)
    assert sorted(parsed.metadata.platforms) == list(THREE)
    raw = yaml.safe_load(lockfile.read_text())["package"]
    assert len(parsed.package) == len(raw)
    assert {(p.name, p.platform, p.manager) for p in parsed.package} == {
        (p["name"], p["platform"], p["manager"]) for p in raw}

    out = tmp_path / "rendered"
    out.mkdir()
    done = subprocess.run([str(BIN / "conda-lock"), "render", "-k", "explicit", *[a for p in THREE for a in ("-p", p)],
                           str(lockfile)], cwd=out, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for platform in THREE:
        theirs = (out / f"conda-{platform}.lock").read_text()
        ours = cli.ok("export", project, "--format", "explicit", "--platform", platform).stdout
        assert sorted(_explicit_lines(theirs)) == sorted(_explicit_lines(ours))
        assert f"# pip tinyweb @ {_entries(project, 'pip', platform)['tinyweb']['url']}" in theirs


# --- @EXPLICIT ----------------------------------------------------------------------------------


def test_explicit_export_lists_every_conda_package_in_dependency_order(cli, tmp_path, channel_url, pypi):
    project = _locked(cli, tmp_path, channel_url, pypi)
    text = cli.ok("export", project, "--format", "explicit").stdout
    assert "# platform: linux-64\n" in text and text.count("@EXPLICIT\n") == 1
    lines = _explicit_lines(text)
    conda = _entries(project, "conda", "linux-64")
    assert sorted(lines) == sorted(f"{e['url']}#{e['hash']['md5']}" for e in conda.values())
    names = [line.rsplit("/", 1)[1].rsplit("-", 2)[0] for line in lines]
    assert names.index("tinyleaf") < names.index("tinyapp")
    assert names.index("python") < min(names.index("condapy"), names.index("pip"))
    osx = cli.ok("export", project, "--format", "explicit", "--platform", "osx-arm64").stdout
    assert "# platform: osx-arm64\n" in osx and "/osx-arm64/python-" in osx and "/linux-64/" not in osx
    output = tmp_path / "out" / "env.txt"
    done = cli.ok("export", project, "--format", "explicit", "-o", output, "--json")
    assert output.read_text() == text  # deterministic, and the same as on stdout
    data = json.loads(done.stdout)["data"]
    assert data == {"format": "explicit", "platform": "linux-64", "lockfile": str(project / "materialize-lock.yml"),
                    "output": str(output), "text": None, "conda": len(conda), "pypi": 0,
                    "skipped": ["coreserial", "coreserver", "tinydep", "tinyweb"]}


def test_explicit_export_builds_an_environment(cli, tmp_path, channel_url, pypi):
    """What conda and micromamba do with the file: fetch each URL, check its md5, link them all."""
    from rattler import RepoDataRecord, install

    project = _locked(cli, tmp_path, channel_url, pypi, platforms=("linux-64",))
    archives = []
    for line in _explicit_lines(cli.ok("export", project, "--format", "explicit").stdout):
        url, _, md5 = line.partition("#")
        path = Path(unquote(urlsplit(url).path))
        assert hashlib.md5(path.read_bytes()).hexdigest() == md5
        archives.append(path)

    async def build():
        records = await asyncio.gather(*(RepoDataRecord.from_package_archive(a) for a in archives))
        await install(records, target_prefix=tmp_path / "env", cache_dir=tmp_path / "pkgs", show_progress=False,
                      execute_link_scripts=False)

    asyncio.run(build())
    time.sleep(0.05)  # docs/engines.md: rattler's exit crash
    done = run_python(tmp_path / "env", "import condapy; print('ok')")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_export_errors_are_one_line_with_exit_3(cli, tmp_path, channel_url, pypi):
    cli.fails(3, "export", tmp_path, "--format", "explicit")  # no lockfile
    project = _locked(cli, tmp_path, channel_url, pypi, platforms=("linux-aarch64", "osx-arm64"))
    done = cli.fails(3, "export", project, "--format", "pylock")
    assert done.stderr.splitlines()[0] == ("error: materialize-lock.yml has no packages for linux-64 "
                                           "(it has: linux-aarch64, osx-arm64)")
    envelope = json.loads(cli.fails(3, "export", project, "--format", "requirements", "--platform", "win-64",
                                    "--json").stdout)
    assert envelope["errors"][0]["kind"] == "invalid-input" and envelope["data"] is None
    cli.fails(2, "export", project, "--format", "yaml")


# --- PEP 751 pylock.toml ----------------------------------------------------------------------


def test_pylock_export_installs_with_uv(cli, tmp_path, channel_url, pypi, running_python):
    project = _locked(cli, tmp_path, channel_url, pypi)
    target = project / "pylock.toml"
    cli.ok("export", project, "--format", "pylock", "-o", target)
    data = tomllib.loads(target.read_text())
    assert data["lock-version"] == "1.0" and data["created-by"] == "materialize"
    assert data["environments"] == ["sys_platform == 'linux' and platform_machine == 'x86_64'"]
    assert data["requires-python"] == "==" + ".".join(running_python.split(".")[:2]) + ".*"
    pip = _entries(project, "pip", "linux-64")
    assert [p["name"] for p in data["packages"]] == sorted(pip)
    for package in data["packages"]:
        entry = pip[package["name"]]
        assert package["version"] == str(entry["version"])
        assert package["wheels"] == [{"name": entry["url"].rsplit("/", 1)[1], "url": entry["url"],
                                      "hashes": {"sha256": entry["hash"]["sha256"]}}]
    python = _venv(tmp_path / "venv")
    done = _uv_install(python, "--preview-features", "pylock", "-r", target)
    assert done.returncode == 0, done.stderr
    ran = run_python(tmp_path / "venv", "import tinyweb, tinydep, coreserver; print(tinydep.__version__)")
    assert ran.returncode == 0 and ran.stdout.strip() == "2.0", ran.stderr
    # The osx-arm64 export is refused on this linux-64 machine, by its `environments`
    cli.ok("export", project, "--format", "pylock", "--platform", "osx-arm64", "-o", tmp_path / "osx" / "pylock.toml")
    osx = tmp_path / "osx" / "pylock.toml"
    done = _uv_install(_venv(tmp_path / "venv2"), "--preview-features", "pylock", "-r", osx)
    assert done.returncode != 0 and "not supported by the lockfile" in done.stderr


@pytest.fixture(scope="module")
def git_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("git-repos")
    repo = git_repos.make_git_repo(root, "gitpkg", ["1.0", "2.0"])
    with git_repos.serve_git_over_http(root) as base:
        yield base, git_repos.head_sha(repo, "v1.0")


def test_git_and_local_projects_in_pylock_and_requirements(cli, tmp_path, channel_url, pypi, git_server):
    base, commit = git_server
    requirements = f"tinydep==1.0\ngitpkg @ git+{base}/gitpkg.git@v1.0\n./localpkg\n"
    project = write_project(tmp_path / "proj", conda="condapy=1.0\n", requirements=requirements,
                            pip_conf=pip_conf_for(pypi.url))
    wheels.write_project(project / "localpkg", "localpkg", "0.3", kind="pyproject")
    cli.ok("lock", project, "--channel", channel_url)
    target = tmp_path / "elsewhere" / "pylock.toml"
    cli.ok("export", project, "--format", "pylock", "-o", target)
    packages = {p["name"]: p for p in tomllib.loads(target.read_text())["packages"]}
    assert packages["gitpkg"]["vcs"] == {"type": "git", "url": f"{base}/gitpkg.git", "commit-id": commit}
    # local paths are made relative to the exported file (uv reads them so)
    assert packages["localpkg"] == {"name": "localpkg", "directory": {"path": "../proj/localpkg", "editable": False}}
    python = _venv(tmp_path / "venv")
    done = _uv_install(python, "--preview-features", "pylock", "-r", target, "--default-index", pypi.url,
                       cwd=project)
    assert done.returncode == 0, done.stderr
    ran = run_python(tmp_path / "venv", "import gitpkg, localpkg, tinydep; print(gitpkg.__version__, "
                                        "localpkg.__version__, tinydep.__version__)")
    assert ran.stdout.split() == ["1.0", "0.3", "1.0"], ran.stderr

    # requirements: git and the local project cannot carry a hash: they are listed as comments
    done = cli.ok("export", project, "--format", "requirements", "--json", cwd=tmp_path)
    data = json.loads(done.stdout)["data"]
    assert data["skipped"] == ["gitpkg", "localpkg"]
    assert "#   localpkg @ proj/localpkg\n" in data["text"]  # stdout: relative to the current directory
    assert f"#   gitpkg @ git+{base}/gitpkg.git@{commit}#egg=gitpkg" in data["text"]
    (tmp_path / "req.txt").write_text(data["text"])
    done = _uv_install(_venv(tmp_path / "venv2"), "--require-hashes", "--no-deps", "-r", tmp_path / "req.txt")
    assert done.returncode == 0, done.stderr


# --- hashed requirements.txt ------------------------------------------------------------------


def test_requirements_export_passes_require_hashes(cli, tmp_path, channel_url, pypi):
    project = _locked(cli, tmp_path, channel_url, pypi)
    target = tmp_path / "requirements-locked.txt"
    cli.ok("export", project, "--format", "requirements", "-o", target)
    lines = [line for line in target.read_text().splitlines() if not line.startswith("#")]
    pip = _entries(project, "pip", "linux-64")
    assert lines == [f"{name} @ {pip[name]['url']} --hash=sha256:{pip[name]['hash']['sha256']}"
                     for name in sorted(pip)]
    python = _venv(tmp_path / "venv")
    done = _uv_install(python, "--require-hashes", "--no-deps", "-r", target)
    assert done.returncode == 0, done.stderr
    ran = run_python(tmp_path / "venv", "import tinyweb, coreserial; print('ok')")
    assert ran.stdout.strip() == "ok", ran.stderr
    # the hashes are really checked: one wrong digest fails the install
    sha = pip["tinydep"]["hash"]["sha256"]
    target.write_text(target.read_text().replace(sha, "0" * 64))
    done = _uv_install(_venv(tmp_path / "venv3"), "--require-hashes", "--no-deps", "-r", target)
    assert done.returncode != 0 and "hash" in done.stderr.lower()


# --- docs/json.md pins the shape of every command's --json data -------------------------------


def _documented() -> dict[str, dict]:
    import re

    text = (Path(__file__).resolve().parent.parent / "docs" / "json.md").read_text()
    found = re.findall(r"^### (.+?)\n.*?```json\n(.*?)```", text, flags=re.S | re.M)
    return {title.strip(): json.loads(block) for title, block in found}


def test_json_shapes_match_the_docs(cli, tmp_path, channel_url, pypi):
    documented = _documented()
    project = _locked(cli, tmp_path, channel_url, pypi, platforms=("linux-64",))
    lockfile = project / "materialize-lock.yml"
    env = tmp_path / "env"
    runs = {
        "lock": ("lock", project, "--channel", channel_url),
        "lock --check": ("lock", project, "--channel", channel_url, "--check"),
        "install": ("install", project, "--prefix", env),
        "install (up to date)": ("install", project, "--prefix", env),
        "verify": ("verify", project, "--prefix", env),
        "fetch": ("fetch", project),
        "config": ("config", project),
        "export": ("export", project, "--format", "requirements"),
        "diff": ("diff", lockfile, lockfile),
        "push": ("push", "--prefix", env, f"oci:{tmp_path / 'layout'}:v1"),
        "verify --image": ("verify", "--prefix", env, "--image", f"oci:{tmp_path / 'layout'}:v1"),
        "pull (up to date)": ("pull", f"oci:{tmp_path / 'layout'}:v1", "--prefix", env),
        "pull": ("pull", "--repair", f"oci:{tmp_path / 'layout'}:v1", "--prefix", env),
    }
    assert sorted(documented) == sorted([*runs, "error"])
    for title, args in runs.items():
        envelope = json.loads(cli.ok(*args, "--json").stdout)
        assert sorted(envelope) == sorted(documented["error"]), title
        assert envelope["command"] == args[0] and envelope["errors"] == []
        assert sorted(envelope["data"]) == sorted(documented[title]), f"docs/json.md is out of date for {title!r}"
    for setting in json.loads(cli.ok("config", project, "--json").stdout)["data"].values():
        assert sorted(setting) == ["source", "value"]
    error = json.loads(cli.fails(3, "export", project, "--format", "explicit", "--platform", "osx-arm64",
                                 "--json").stdout)
    assert sorted(error) == sorted(documented["error"]) and error["data"] is None
    assert sorted(error["errors"][0]) == sorted(documented["error"]["errors"][0])
