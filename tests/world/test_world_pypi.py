"""Self-tests of the hermetic PyPI world: wheels, the local pypiserver, git repos.

Every uv call here runs against 127.0.0.1 only, with `--no-config`,
`--no-python-downloads`, its cache in tmp_path, VIRTUAL_ENV dropped and HOME
isolated (uv reads `~/.netrc`).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from .git_repos import commit_version, git_env, head_sha, make_git_repo, serve_git_over_http
from .pypi_server import PyPIServer, basic_auth_header, start_pypi_server
from .wheels import (
    Dist,
    build_all,
    build_sdist,
    build_wheel,
    private_dists,
    public_dists,
    setuptools_wheels,
    standard_dists,
    write_project,
)

USER, PASSWORD, WRONG = "alice", "s3cret-pw", "WRONG-pw"
BASE_FLAGS = ("--no-config", "--no-python-downloads")


def uv_bin() -> str:
    import uv  # noqa: PLC0415

    return uv.find_uv_bin()


@pytest.fixture(scope="module")
def public_index(tmp_path_factory) -> PyPIServer:
    packages = tmp_path_factory.mktemp("public-index")
    build_all(public_dists(), packages)
    with start_pypi_server(packages) as server:
        server.add(*setuptools_wheels())
        yield server


@pytest.fixture(scope="module")
def private_index(tmp_path_factory) -> PyPIServer:
    packages = tmp_path_factory.mktemp("private-index")
    build_all(private_dists(), packages)
    with start_pypi_server(packages, auth=(USER, PASSWORD)) as server:
        yield server


class UV:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        home = tmp_path / "home"
        home.mkdir()
        self.env = {k: v for k, v in git_env().items()
                    if k != "VIRTUAL_ENV" and not k.startswith(("UV_", "PIP_"))}
        self.env.update(HOME=str(home), UV_CACHE_DIR=str(tmp_path / "uv-cache"))

    def __call__(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
        argv = [uv_bin(), *args]
        return subprocess.run(argv, env={**self.env, **(env or {})}, cwd=cwd,
                              capture_output=True, text=True, timeout=120)

    def venv(self) -> Path:
        target = self.tmp / "venv"
        result = self("venv", *BASE_FLAGS, "--python", sys.executable, str(target))
        assert result.returncode == 0, result.stderr
        return target / "bin" / "python"

    def compile(self, requirements: str, index_url: str, *extra: str, env=None, version="3.11"):
        """Compile to pylock.toml; returns (result, parsed lock or None)."""
        req = self.tmp / "requirements.in"
        req.write_text(requirements)
        out = self.tmp / "pylock.toml"
        out.unlink(missing_ok=True)
        result = self("pip", "compile", *BASE_FLAGS, "--python-version", version,
                      "--python", sys.executable, "--generate-hashes", "--index-url", index_url,
                      *extra, str(req), "-o", str(out), env=env)
        return result, (tomllib.loads(out.read_text()) if result.returncode == 0 else None)


@pytest.fixture
def uv(tmp_path) -> UV:
    return UV(tmp_path)


def by_name(lock: dict) -> dict[str, dict]:
    return {p["name"]: p for p in lock["packages"]}


# --- wheels ----------------------------------------------------------------


def test_wheel_is_deterministic_and_record_is_valid(tmp_path):
    dist = next(d for d in standard_dists() if d.name == "tinyweb")
    first, second = build_wheel(dist, tmp_path / "a"), build_wheel(dist, tmp_path / "b")
    assert first.name == "tinyweb-1.0-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        names = zf.namelist()
        assert names[-1] == "tinyweb-1.0.dist-info/RECORD"
        assert names[:-1] == sorted(names[:-1])
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        rows = list(csv.reader(io.StringIO(zf.read(names[-1]).decode())))
        for path, digest, size in rows[:-1]:
            data = zf.read(path)
            expect = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert (digest, int(size)) == (f"sha256={expect}", len(data))
        meta = zf.read("tinyweb-1.0.dist-info/METADATA").decode()
        assert "Metadata-Version: 2.1\nName: tinyweb\nVersion: 1.0\n" in meta
        assert "Requires-Dist: tinydep>=2\n" in meta
        assert "tinyweb = tinyweb:main" in zf.read("tinyweb-1.0.dist-info/entry_points.txt").decode()


def test_standard_dists_and_six_shape(tmp_path):
    pairs = {(d.name, d.version) for d in standard_dists()}
    assert pairs == {("tinydep", "1.0"), ("tinydep", "2.0"), ("tinyweb", "1.0"), ("six", "1.16.0"),
                     ("six", "1.17.0"), ("pyonly", "1.0"), ("onlyold", "1.0"), ("coreserver", "1.0"),
                     ("coreserver", "1.1"), ("coreserial", "1.0"), ("privpkg", "1.0")}
    six = build_wheel(Dist("six", "1.17.0", single_module=True, python_tag="py2.py3"), tmp_path)
    assert six.name == "six-1.17.0-py2.py3-none-any.whl"
    assert "six.py" in zipfile.ZipFile(six).namelist()


def test_sdist_is_deterministic(tmp_path):
    dist = Dist("Some.Pkg", "0.5", requires=("tinydep",))
    first, second = build_sdist(dist, tmp_path / "a"), build_sdist(dist, tmp_path / "b")
    assert first.name == "some_pkg-0.5.tar.gz"
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        assert sorted(tar.getnames()) == ["some_pkg-0.5/PKG-INFO", "some_pkg-0.5/pyproject.toml",
                                          "some_pkg-0.5/some_pkg/__init__.py"]
        pyproject = tar.extractfile("some_pkg-0.5/pyproject.toml").read().decode()
    assert 'build-backend = "setuptools.build_meta"' in pyproject


def test_setuptools_wheels_found_on_disk():
    names = [p.name for p in setuptools_wheels()]
    assert any(n.startswith("setuptools-") for n in names), names


# --- pypiserver + uv -------------------------------------------------------


def test_uv_installs_tinyweb_from_local_server(uv, public_index):
    python = uv.venv()
    result = uv("pip", "install", *BASE_FLAGS, "--python", str(python),
                "--index-url", public_index.url, "tinyweb")
    assert result.returncode == 0, result.stderr
    assert "+ tinydep==2.0" in result.stderr and "+ tinyweb==1.0" in result.stderr
    check = subprocess.run([str(python), "-c", "import tinyweb, tinydep; print(tinydep.__version__)"],
                           capture_output=True, text=True)
    assert check.stdout == "2.0\n", check.stderr
    script = subprocess.run([str(python.parent / "tinyweb")], capture_output=True, text=True)
    assert script.stdout == "tinyweb 1.0\n"


def test_added_file_is_served_without_restart(uv, public_index, tmp_path):
    url = public_index.url + "latecomer/"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=5)
    assert err.value.code == 404  # --disable-fallback: no redirect to pypi.org
    public_index.add(build_wheel(Dist("latecomer", "1.0"), tmp_path / "late"))
    assert b"latecomer-1.0-py3-none-any.whl" in urllib.request.urlopen(url, timeout=5).read()
    result, lock = uv.compile("latecomer\n", public_index.url)
    assert result.returncode == 0, result.stderr
    assert by_name(lock)["latecomer"]["version"] == "1.0"


def test_pylock_has_server_urls_and_sha256(uv, public_index):
    result, lock = uv.compile("tinyweb\nsix==1.16.0\n", public_index.url)
    assert result.returncode == 0, result.stderr
    assert lock["lock-version"] == "1.0" and lock["created-by"] == "uv"
    packages = by_name(lock)
    assert sorted(packages) == ["six", "tinydep", "tinyweb"]
    wheel = packages["six"]["wheels"][0]
    assert packages["six"] == {"name": "six", "version": "1.16.0", "wheels": [wheel]}
    assert wheel["url"] == f"http://{public_index.host}/packages/six-1.16.0-py2.py3-none-any.whl"
    served = public_index.packages_dir / "six-1.16.0-py2.py3-none-any.whl"
    assert wheel["hashes"] == {"sha256": hashlib.sha256(served.read_bytes()).hexdigest()}


def test_requires_python_lower_bound_is_honoured(uv, public_index):
    assert uv.compile("onlyold\n", public_index.url, version="3.11")[0].returncode == 0
    assert uv.compile("pyonly\n", public_index.url, version="3.12")[0].returncode == 0
    result, _ = uv.compile("pyonly\n", public_index.url, version="3.11")
    assert result.returncode == 1
    assert "pyonly==1.0 requires Python >=3.12" in result.stderr


def test_uv_ignores_requires_python_upper_bound(uv, public_index):
    """Measured on uv 0.13.9: `onlyold` (Requires-Python <3.12) still resolves for 3.12."""
    result, lock = uv.compile("onlyold\n", public_index.url, version="3.12")
    assert result.returncode == 0, result.stderr
    assert by_name(lock)["onlyold"]["version"] == "1.0"


# --- authenticated index ---------------------------------------------------


def test_private_index_rejects_plain_http_requests(private_index):
    url = private_index.url + "privpkg/"
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=5)
    assert err.value.code == 401
    bad = urllib.request.Request(url, headers=basic_auth_header(USER, WRONG))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bad, timeout=5)
    assert err.value.code == 403
    good = urllib.request.Request(url, headers=basic_auth_header(USER, PASSWORD))
    assert b"privpkg-1.0" in urllib.request.urlopen(good, timeout=5).read()


def test_netrc_credentials(uv, private_index, tmp_path):
    netrc = private_index.write_netrc(tmp_path / "netrc")
    result, lock = uv.compile("privpkg\n", private_index.url, env={"NETRC": str(netrc)})
    assert result.returncode == 0, result.stderr
    url = by_name(lock)["privpkg"]["wheels"][0]["url"]
    assert url == f"http://{private_index.host}/packages/privpkg-1.0-py3-none-any.whl"
    assert PASSWORD not in (tmp_path / "pylock.toml").read_text()
    python = uv.venv()
    install = ("pip", "install", *BASE_FLAGS, "--preview-features", "pylock", "--python", str(python),
               "-r", str(tmp_path / "pylock.toml"))
    denied = uv(*install)
    assert denied.returncode != 0 and "401 Unauthorized" in denied.stderr
    result = uv(*install, env={"NETRC": str(netrc)})
    assert result.returncode == 0, result.stderr
    assert "+ privpkg==1.0" in result.stderr


def test_wrong_netrc_password_fails_without_leaking(uv, private_index, tmp_path):
    netrc = private_index.write_netrc(tmp_path / "netrc", password=WRONG)
    result, _ = uv.compile("privpkg\n", private_index.url, env={"NETRC": str(netrc)})
    assert result.returncode == 1
    assert f"An index ({private_index.url}) returned a 403 Forbidden error" in result.stderr
    assert WRONG not in result.stderr + result.stdout


def test_missing_credentials_fail_with_401(uv, private_index):
    result, _ = uv.compile("privpkg\n", private_index.url)
    assert result.returncode == 1
    assert "lack of valid authentication credentials (401 Unauthorized)" in result.stderr


def test_url_userinfo_credentials_stay_out_of_lock(uv, private_index, tmp_path):
    result, lock = uv.compile("privpkg\n", private_index.url_with_auth())
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "pylock.toml").read_text()
    assert PASSWORD not in text and USER not in text
    bad_url = private_index.url_with_auth().replace(PASSWORD, WRONG)
    result, _ = uv.compile("privpkg\n", bad_url)
    assert result.returncode == 1 and "403 Forbidden" in result.stderr
    assert WRONG not in result.stderr + result.stdout


def test_named_index_env_credentials(uv, public_index, private_index):
    flags = ("--index", f"priv={private_index.url}")
    good = {"UV_INDEX_PRIV_USERNAME": USER, "UV_INDEX_PRIV_PASSWORD": PASSWORD}
    result, lock = uv.compile("privpkg\ntinydep\n", public_index.url, *flags, env=good)
    assert result.returncode == 0, result.stderr
    assert by_name(lock)["privpkg"]["wheels"][0]["url"].startswith(f"http://{private_index.host}/")
    bad = {**good, "UV_INDEX_PRIV_PASSWORD": WRONG}
    result, _ = uv.compile("privpkg\ntinydep\n", public_index.url, *flags, env=bad)
    assert result.returncode == 1 and "403 Forbidden" in result.stderr


# --- git -------------------------------------------------------------------


def test_git_repo_is_deterministic_and_commit_moves_main(tmp_path):
    one = make_git_repo(tmp_path / "a", "gitpkg", ["1.0", "1.1"])
    two = make_git_repo(tmp_path / "b", "gitpkg", ["1.0", "1.1"])
    assert head_sha(one, "v1.0") == head_sha(two, "v1.0")
    assert head_sha(one, "main") == head_sha(one, "v1.1") != head_sha(one, "v1.0")
    sha = commit_version(one, "2.0")
    assert sha == head_sha(one, "main") == head_sha(one, "v2.0")
    assert 'version = "2.0"' in (one / "pyproject.toml").read_text()


def test_git_file_requirement_pins_commit(uv, public_index, tmp_path):
    repo = make_git_repo(tmp_path / "git", "gitpkg", ["1.0", "1.1"])
    result, lock = uv.compile(f"gitpkg @ git+file://{repo}@v1.0\n", public_index.url)
    assert result.returncode == 0, result.stderr
    assert by_name(lock)["gitpkg"] == {
        "name": "gitpkg", "version": "1.0",
        "vcs": {"type": "git", "url": f"file://{repo}", "requested-revision": "v1.0",
                "commit-id": head_sha(repo, "v1.0")},
    }


def test_git_over_http_with_basic_auth(uv, public_index, tmp_path):
    repo = make_git_repo(tmp_path / "git", "gitpkg", ["1.0", "1.1"])
    with serve_git_over_http(tmp_path / "git", auth=("gituser", "gitpw")) as base:
        authed = base.replace("http://", "http://gituser:gitpw@")
        result, lock = uv.compile(f"gitpkg @ git+{authed}/gitpkg.git@v1.0\n", public_index.url)
        assert result.returncode == 0, result.stderr
        vcs = by_name(lock)["gitpkg"]["vcs"]
        assert vcs["commit-id"] == head_sha(repo, "v1.0")
        assert vcs["url"] == f"{authed}/gitpkg.git"  # uv writes git credentials in clear
        result, _ = uv.compile(f"gitpkg @ git+{base}/gitpkg.git@v1.0\n", public_index.url)
        assert result.returncode == 1
        assert "could not read Username" in result.stderr


def test_git_over_http_with_credential_helper(uv, public_index, tmp_path):
    """The token-free way: git's own credential helper, so the lock holds no secret."""
    make_git_repo(tmp_path / "git", "gitpkg", ["1.0"])
    with serve_git_over_http(tmp_path / "git", auth=("gituser", "gitpw")) as base:
        store = tmp_path / "git-credentials"
        store.write_text(base.replace("http://", "http://gituser:gitpw@") + "\n")
        config = tmp_path / "gitconfig"
        config.write_text(f"[credential]\n\thelper = store --file={store}\n")
        result, lock = uv.compile(f"gitpkg @ git+{base}/gitpkg.git@v1.0\n", public_index.url,
                                  env={"GIT_CONFIG_GLOBAL": str(config)})
        assert result.returncode == 0, result.stderr
        assert by_name(lock)["gitpkg"]["vcs"]["url"] == f"{base}/gitpkg.git"
        assert "gitpw" not in (tmp_path / "pylock.toml").read_text()


# --- building from source offline -------------------------------------------


@pytest.mark.parametrize("kind", ["pyproject", "setup.py"])
def test_local_project_builds_offline(uv, public_index, tmp_path, kind):
    project = write_project(tmp_path / "proj", "localproj", "0.3", kind=kind, requires=["tinydep<2"])
    (project / "requirements.txt").write_text(".\n")
    python = uv.venv()
    result = uv("pip", "install", *BASE_FLAGS, "--python", str(python), "--index-url",
                public_index.url, "-r", "requirements.txt", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "+ localproj==0.3 (from file://" in result.stderr and "+ tinydep==1.0" in result.stderr
    check = subprocess.run([str(python), "-c", "import localproj; print(localproj.__version__)"],
                           capture_output=True, text=True)
    assert check.stdout == "0.3\n", check.stderr


def test_sdist_from_index_builds_offline(uv, public_index, tmp_path):
    public_index.add(build_sdist(Dist("srconly", "0.1", requires=("tinydep==1.0",)), tmp_path / "sd"))
    python = uv.venv()
    result = uv("pip", "install", *BASE_FLAGS, "--python", str(python),
                "--index-url", public_index.url, "srconly")
    assert result.returncode == 0, result.stderr
    assert "+ srconly==0.1" in result.stderr and "+ tinydep==1.0" in result.stderr

