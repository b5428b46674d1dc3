"""Issues 3 and 14: the sweep. For every way of giving a secret, every byte materialize writes (lockfile,
exports, prefix, cache, run logs, temp dir, stdout and stderr with -vv and --json) and the argv and
environment of every child (a spy around uv, and around the git that uv runs) are searched for it, on
success and on failure, and after kill -9 at several points of lock and install.

What a user wrote a secret into (their pip.conf, requirements.txt, .env) is theirs and not searched.
"""

from __future__ import annotations

import base64
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from tests.conftest import PRIVATE_AUTH
from tests.helpers import run_python, write_project
from tests.prefix_checks import kill_at, start_cli
from tests.world import git_repos, wheels
from tests.world.recording_index import recording_index

USER, PASSWORD = PRIVATE_AUTH
TOKEN = "ghp_SweepToken_7c7c7c7c"  # the seed's form: git+https://<token>@host/<repo>.git


@dataclass
class Route:
    """One way of giving the secrets: the project's files, the environment, which files are the user's."""

    name: str
    pip_conf: str
    requirements: str
    dotenv: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    literal: bool = False  # written in clear: the lockfile must say it left the login out
    user_files: tuple[str, ...] = ()


def routes(pypi, private, git_host, files_host) -> dict[str, Route]:
    priv = f"http://{USER}:{PASSWORD}@{private}/simple/"
    direct = f"http://{USER}:{PASSWORD}@{files_host}/packages/tinydep-1.0-py3-none-any.whl"
    varpriv = f"http://{USER}:${{PRIVATE_PW}}@{private}/simple/"
    git_var = f"git+http://${{GIT_TOKEN}}@{git_host}/gitpkg.git@v1.0#egg=gitpkg\n"
    public = f"[global]\nindex-url = {pypi}\n"
    return {
        "pip.conf": Route("pip.conf", public + f"extra-index-url = {priv}\n", "privpkg\ntinydep\n", literal=True,
                          user_files=("pip.conf",)),
        "env var": Route("env var", public + f"extra-index-url = {varpriv}\n", "privpkg\n" + git_var,
                         env={"PRIVATE_PW": PASSWORD, "GIT_TOKEN": TOKEN}),
        ".env": Route(".env", public + f"extra-index-url = {varpriv}\n", "privpkg\n" + git_var,
                      dotenv=f"PRIVATE_PW={PASSWORD}\nexport GIT_TOKEN={TOKEN}\n", user_files=(".env",)),
        "index URL": Route("index URL", public, f"--extra-index-url {priv}\nprivpkg\ntinydep\n", literal=True,
                           user_files=("requirements.txt",)),
        "git token": Route("git token", public, f"git+http://{TOKEN}@{git_host}/gitpkg.git@v1.0#egg=gitpkg\n",
                           literal=True, user_files=("requirements.txt",)),
        "find-links, direct URL": Route(
            "find-links, direct URL", public + f"find-links = http://{USER}:{PASSWORD}@{private}/packages/\n",
            f"privpkg\ntinydep @ {direct}\n", literal=True, user_files=("pip.conf", "requirements.txt")),
    }


def secret_forms(*pairs: tuple[str, str]) -> list[bytes]:
    """Each secret as it could leak: raw, percent-encoded, inside a Basic Authorization header."""
    forms = set()
    for user, secret in pairs:
        forms |= {secret, quote(secret, safe=""), base64.b64encode(f"{user}:{secret}".encode()).decode()}
    return sorted(f.encode() for f in forms if len(f) >= 6)


SECRETS = secret_forms((USER, PASSWORD), (TOKEN, ""), ("", TOKEN))


@dataclass
class World:
    root: Path
    env: dict[str, str]
    spy_log: Path
    git_seen: list
    git_host: str = ""
    files: object = None  # a RecordingIndex behind the same login, on an origin of its own (direct URLs)

    @property
    def tmp(self) -> Path:
        return Path(self.env["TMPDIR"])

    def roots(self, project: Path) -> list[Path]:
        caches = [self.root / "cache", self.root / "install-cache"]
        return [project, self.root / "env", *caches, Path(self.env["HOME"]), self.tmp]


def _spy(folder: Path, name: str, real: str, log: Path) -> Path:
    """A wrapper that appends its argv and whole environment to ``log``, then runs the real program."""
    path = folder / name
    path.write_text(f'#!/bin/sh\n{{ printf "ARGV %s:" "{name}"; printf " %s" "$@"; printf "\\n"; env; echo; }} '
                    f'>> "{log}"\nexec "{real}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def world(tmp_path, isolated, request):
    import uv

    spies = tmp_path / "spies"
    spies.mkdir()
    # a short temp dir of its own, so the broker's socket is in it whatever tmp_path's length (a long
    # one moves the socket to /tmp: test_a_temp_dir_too_long_for_a_socket_still_serves_logins)
    tmp = Path(tempfile.mkdtemp(prefix="mz-secrets-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(tmp, ignore_errors=True))
    log = tmp_path / "children.log"
    _spy(spies, "git", shutil.which("git"), log)
    env = {"MATERIALIZE_UV": str(_spy(spies, "uv", uv.find_uv_bin(), log)), "TMPDIR": str(tmp),
           "MATERIALIZE_CACHE_DIR": str(tmp_path / "cache"), "PATH": f"{spies}{os.pathsep}{os.environ['PATH']}",
           "HOME": str(isolated)}
    repos, wheel_folder = tmp_path / "repos", tmp_path / "wheels"
    repos.mkdir()
    git_repos.make_git_repo(repos, "gitpkg", ["1.0"])
    wheel_folder.mkdir()
    wheels.build_all([d for d in wheels.public_dists() if d.name == "tinydep"], wheel_folder)
    seen: list = []
    with git_repos.serve_git_over_http(repos, auth=(TOKEN, ""), record=seen) as git_base, \
            recording_index(wheel_folder, auth=(USER, PASSWORD)) as files:
        yield World(tmp_path, env, log, seen, git_base.split("://")[1], files)


def _project(world: World, route: Route, name: str = "p") -> Path:
    return write_project(world.root / name, pip_conf=route.pip_conf, requirements=route.requirements,
                         files={".env": route.dotenv} if route.dotenv else None)


def assert_clean(world: World, project: Path, route: Route, outputs: list[str], secrets: list[bytes] = SECRETS) -> None:
    """No form of any secret in the outputs, the children's argv and environment, or any file written."""
    for text in outputs + [world.spy_log.read_text() if world.spy_log.exists() else ""]:
        for form in secrets:
            assert form.decode() not in text, f"a secret ({form[:6]!r}...) was printed or handed to a child"
    mine = {project / name for name in route.user_files}
    for root in world.roots(project):
        for folder, _, files in os.walk(root):
            for name in files:
                path = Path(folder) / name
                if path in mine or path.is_symlink() or not path.is_file():
                    continue
                data = path.read_bytes()
                assert not any(form in data for form in secrets), f"a secret is in {path}"
    leftovers = sorted(p.name for p in world.tmp.glob("materialize-*"))
    assert leftovers == [], f"temporary folders left behind: {leftovers}"


def _routes(world, pypi, private_pypi) -> dict[str, Route]:
    return routes(pypi.url, private_pypi.host, world.git_host, world.files.base.split("://")[1])


ROUTE_NAMES = ["pip.conf", "env var", ".env", "index URL", "git token", "find-links, direct URL"]


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_sweep_lock_install_export(cli, world, channel_url, pypi, private_pypi, name):
    route = _routes(world, pypi, private_pypi)[name]
    project, env = _project(world, route), {**world.env, **route.env}
    outputs = []
    for flags in (["-vv"], ["--check", "--json"]):  # --check: the input digest holds no login either
        done = cli.ok("lock", project, "--channel", channel_url, *flags, env=env)
        outputs += [done.stdout, done.stderr]
    if "git+" in route.requirements:  # a build host of its own: uv must fetch from git again, with the login
        env = {**env, "MATERIALIZE_CACHE_DIR": str(world.root / "install-cache")}
    before = len(world.git_seen)
    done = cli.ok("install", project, "--prefix", world.root / "env", "-vv", env=env)
    outputs += [done.stdout, done.stderr]
    if "git+" in route.requirements:
        assert any(auth for _, auth in world.git_seen[before:]), "the install never authenticated at the git host"
    outputs += _verify_and_export(cli, world, project, env)
    modules = "privpkg" if "privpkg" in route.requirements else "gitpkg"
    assert run_python(world.root / "env", f"import {modules}").returncode == 0
    if "tinydep @" in route.requirements:  # the direct URL was fetched with its login, at lock and at install
        assert len(world.files.authorizations()) >= 2
    _assert_lockfile_says_so(project, route, outputs[1])
    assert "compile" in world.spy_log.read_text()  # the spy really saw uv
    if "git+" in route.requirements:
        assert "ARGV git:" in world.spy_log.read_text() and any(auth for _, auth in world.git_seen)
    assert_clean(world, project, route, outputs)


@pytest.mark.parametrize("name", ["env var", ".env"])
def test_an_install_from_a_warm_cache_hands_no_child_the_secret(cli, world, channel_url, pypi, private_pypi, name):
    """pip.conf gains an index whose login is a variable after the lock (so the lockfile notes no
    login), and every artifact is in the cache: nothing makes the install read the project for a
    login, yet it reads it far enough to keep the variable's value out of uv's environment."""
    import dataclasses

    route = _routes(world, pypi, private_pypi)[name]  # without its git package (and the git token)
    route = dataclasses.replace(route, requirements="tinydep\n", env={k: v for k, v in route.env.items() if k != "GIT_TOKEN"})
    project, env = _project(world, route), {**world.env, **route.env}
    conf = project / "pip.conf"
    with_login = conf.read_text()
    conf.write_text("".join(line for line in with_login.splitlines(keepends=True) if "extra-index-url" not in line))
    cli.ok("lock", project, "--channel", channel_url, env=env)
    cli.ok("install", project, "--prefix", world.root / "first", env=env)
    conf.write_text(with_login)
    world.spy_log.unlink()
    done = cli.ok("install", project, "--prefix", world.root / "env", "-vv", env=env)
    assert "ARGV uv:" in world.spy_log.read_text(), "uv never ran"
    assert run_python(world.root / "env", "import tinydep").returncode == 0
    assert_clean(world, project, route, [done.stdout, done.stderr])


def test_a_temp_dir_too_long_for_a_socket_still_serves_logins(cli, world, channel_url, pypi, private_pypi):
    """A Unix socket's path holds 107 bytes: with a deeper TMPDIR the broker listens in a private
    folder under /tmp instead, and the private index still gets its login."""
    route = _routes(world, pypi, private_pypi)["pip.conf"]
    deep = world.root / ("deep-" * 20)
    deep.mkdir()
    project, env = _project(world, route), {**world.env, **route.env, "TMPDIR": str(deep)}
    assert len(str(deep / "materialize-cred-XXXXXXXX" / "socket")) > 107
    cli.ok("lock", project, "--channel", channel_url, env=env)
    cli.ok("install", project, "--prefix", world.root / "env", env=env)
    assert run_python(world.root / "env", "import privpkg").returncode == 0
    assert [p.name for p in deep.glob("materialize-*")] == []


def _verify_and_export(cli, world: World, project: Path, env: dict[str, str]) -> list[str]:
    calls = [("verify", project, "--prefix", world.root / "env", "--json"), ("export", project, "--format", "pylock"),
             ("export", project, "--format", "explicit", "--json"),
             ("export", project, "--format", "requirements", "-o", project / "exports" / "requirements.txt")]
    outputs = []
    for args in calls:
        done = cli.ok(*args, env=env)
        outputs += [done.stdout, done.stderr]
    return outputs


def _assert_lockfile_says_so(project: Path, route: Route, lock_stderr: str) -> None:
    meta = yaml.safe_load((project / "materialize-lock.yml").read_text())["metadata"]["custom_metadata"]
    notes = yaml.safe_load(meta["materialize.credentials"])
    assert notes and {n["form"] for n in notes} == {"literal" if route.literal else "variable"}
    if route.literal:
        assert "is written in clear; the lockfile records the URL without it" in lock_stderr
        assert "~/.netrc" in lock_stderr
    if "GIT_TOKEN" in route.requirements:
        assert "${GIT_TOKEN}" in (project / "materialize-lock.yml").read_text()


def _wrong(route: Route) -> Route:
    """The same route with a wrong secret (of the same shape) in the same place."""
    def swap(text: str | None) -> str | None:
        return text.replace(PASSWORD, "Wr0ng-" + PASSWORD[6:]).replace(TOKEN, TOKEN[:-4] + "dead") if text else text

    return Route(route.name, swap(route.pip_conf), swap(route.requirements), swap(route.dotenv),
                 {k: swap(v) for k, v in route.env.items()}, route.literal, route.user_files)


@pytest.mark.parametrize("name", ROUTE_NAMES)
def test_sweep_wrong_login_is_exit_5_and_leaks_nothing(cli, world, channel_url, pypi, private_pypi, name):
    route = _wrong(_routes(world, pypi, private_pypi)[name])
    project, env = _project(world, route), {**world.env, **route.env}
    wrong = secret_forms((USER, "Wr0ng-" + PASSWORD[6:]), (TOKEN[:-4] + "dead", ""))
    outputs = []
    for flags in (["-vv"], ["--json"]):
        done = cli.fails(5, "lock", project, "--channel", channel_url, *flags, env=env)
        outputs += [done.stdout, done.stderr]
    assert "authentication failed" in outputs[1] or "authentication failed" in outputs[2]
    assert not (project / "materialize-lock.yml").exists()
    assert_clean(world, project, route, outputs, wrong)


@pytest.mark.parametrize("name", ["pip.conf", "env var", "git token"])
def test_sweep_install_without_a_login_is_exit_5_before_any_change(cli, world, channel_url, pypi, private_pypi, name):
    """The lockfile alone, on a host that has no login: exit 5 with a hint, the prefix untouched."""
    route = _routes(world, pypi, private_pypi)[name]
    project, env = _project(world, route), {**world.env, **route.env}
    cli.ok("lock", project, "--channel", channel_url, env=env)
    elsewhere = world.root / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(project / "materialize-lock.yml", elsewhere / "materialize-lock.yml")
    outputs = []
    for flags in (["-vv"], ["--json"]):
        done = cli.fails(5, "install", elsewhere, "--prefix", world.root / "env", *flags, env=world.env)  # none of the route's variables
        outputs += [done.stdout, done.stderr]
    assert "nothing was changed" in outputs[1] and "hint:" in outputs[1]
    assert not (world.root / "env" / "conda-meta").exists() and not any((world.root / "env").glob("lib"))
    assert_clean(world, elsewhere, route, outputs)
    assert_clean(world, project, route, [])


def _cred_socket(world: World):
    return lambda: any(world.tmp.glob("materialize-cred-*/socket"))


def _git_answered(world: World):
    return lambda: any(auth for _, auth in world.git_seen)


def _wheels_installing(world: World):
    return lambda: any(world.tmp.glob("materialize-pip-*/locked.txt"))


def test_kill_9_during_lock_and_install_leaves_no_secret_on_disk(cli, world, channel_url, pypi, private_pypi):
    """Both brokers' clients at work (a private index and a git token), killed at four points."""
    base = _routes(world, pypi, private_pypi)
    route = Route("kill", base["pip.conf"].pip_conf, "privpkg\n" + base["git token"].requirements, literal=True,
                  user_files=("pip.conf", "requirements.txt"))
    project, env = _project(world, route), {**world.env, **route.env}
    killed = {}
    lock_points = (("lock: broker serving", _cred_socket(world)), ("lock: git answered", _git_answered(world)))
    for point, milestone in lock_points:
        world.git_seen.clear()
        if kill_at(start_cli("lock", project, "--channel", channel_url, env=env), milestone):
            killed[point] = _assert_nothing_left_after_a_kill(cli, world, project, route, env, point)
    cli.ok("lock", project, "--channel", channel_url, env=env)
    for point, milestone in (("install: wheels", _wheels_installing(world)), ("install: git", _cred_socket(world))):
        if kill_at(start_cli("install", project, "--prefix", world.root / "env", env=env), milestone):
            killed[point] = _assert_nothing_left_after_a_kill(cli, world, project, route, env, point)
        shutil.rmtree(world.root / "env", ignore_errors=True)
    print("left in the temp dir by each kill (nothing secret; swept by the next run):", killed)
    assert len(killed) >= 3, f"the runs ended before most kill points: {sorted(killed)}"
    assert all(killed.values()), "a kill left no folder: the sweep was not exercised"
    cli.ok("install", project, "--prefix", world.root / "env", env=env)
    assert run_python(world.root / "env", "import privpkg, gitpkg").returncode == 0
    assert_clean(world, project, route, [])


def _assert_nothing_left_after_a_kill(cli, world, project, route, env, point) -> list[str]:
    """On disk right after the kill: no secret anywhere; the next run (any command) sweeps the folders.
    Returns what the kill left in the temp dir."""
    left = sorted(str(p.relative_to(world.tmp)) for p in world.tmp.glob("materialize-*/**/*"))
    for root in world.roots(project):
        for path in (p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            if path not in {project / n for n in route.user_files}:
                assert not any(form in path.read_bytes() for form in SECRETS), f"after a kill at {point}: {path}"
    cli.ok("config", project, env=env)
    assert sorted(p.name for p in world.tmp.glob("materialize-*")) == [], f"not swept after a kill at {point}"
    return left


def test_a_lockfile_holding_a_token_in_clear_is_used_but_never_copied(cli, world, channel_url, pypi, private_pypi):
    """An older materialize wrote git tokens into the lockfile: install still works from it alone, and
    neither the prefix (pypi.json, direct_url.json) nor an export copies the token."""
    route = _routes(world, pypi, private_pypi)["git token"]
    project = _project(world, route)
    cli.ok("lock", project, "--channel", channel_url, env=world.env)
    elsewhere = world.root / "elsewhere"
    elsewhere.mkdir()
    lockfile = elsewhere / "materialize-lock.yml"
    text = (project / "materialize-lock.yml").read_text()
    lockfile.write_text(text.replace(f"git+http://{world.git_host}/", f"git+http://{TOKEN}@{world.git_host}/"))
    assert TOKEN in lockfile.read_text()
    outputs, before = [], len(world.git_seen)
    fresh = {**world.env, "MATERIALIZE_CACHE_DIR": str(world.root / "install-cache")}  # uv must fetch from git
    for args in (("install", elsewhere, "--prefix", world.root / "env", "-vv"),
                 ("export", elsewhere, "--format", "pylock"), ("export", elsewhere, "--format", "requirements")):
        done = cli.ok(*args, env=fresh)
        outputs += [done.stdout, done.stderr]
    assert run_python(world.root / "env", "import gitpkg").returncode == 0
    assert any(auth for _, auth in world.git_seen[before:]), "the install never authenticated at the git host"
    assert_clean(world, elsewhere, Route("old lockfile", "", "", user_files=("materialize-lock.yml",)), outputs)
