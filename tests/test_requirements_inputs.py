"""Issue 3: every requirements.txt form the Cortex docs allow, against the local index and git."""

from __future__ import annotations

import pytest
import yaml

from tests.helpers import lock_packages, pip_conf_for, run_python, write_project
from tests.world import git_repos, wheels


def _pip(project):
    return lock_packages(project / "materialize-lock.yml", "pip")


def test_includes_constraints_markers_and_index_line(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", requirements=(
        f"--index-url {pypi.url}\n"
        "-r more.txt\n"
        "-c pins.txt\n"
        "tinyweb  # a comment\n"
        'onlyold; python_version < "3.0"\n'
        "tinydep \\\n"
        "    >=1\n"), files={"more.txt": "six\n", "pins.txt": "six==1.16.0\ntinydep==2.0\n"})
    cli.ok("lock", project, "--channel", channel_url)
    pins = _pip(project)
    assert pins["six"] == "1.16.0" and pins["tinydep"] == "2.0" and "onlyold" not in pins


def test_extras(cli, tmp_path, channel_url, pypi):
    pypi.add(wheels.build_wheel(wheels.Dist("extrapkg", "1.0", requires=('tinydep==1.0; extra == "fast"',)),
                                tmp_path))
    project = write_project(tmp_path / "p", requirements="extrapkg[fast]\n", pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    assert _pip(project)["tinydep"] == "1.0"


def test_hashes_on_requirement_lines_are_checked(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", requirements="tinydep==1.0 --hash=sha256:" + "0" * 64 + "\n",
                            pip_conf=pip_conf_for(pypi.url))
    done = cli.fails(6, "lock", project, "--channel", channel_url)
    assert "requirements.txt:1: tinydep 1.0: none of its artifacts" in done.stderr


def test_editable_is_refused_with_file_and_line(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", requirements="tinydep\n-e ./src\n")
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert "requirements.txt:2: editable installs" in done.stderr


def test_invalid_requirement_names_file_and_line(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", requirements="tinydep\n\nnot a (valid requirement\n")
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert done.stderr.startswith("error: requirements.txt:3: ")


def test_missing_include_names_the_including_line(cli, tmp_path, channel_url):
    project = write_project(tmp_path / "p", requirements="-r nowhere.txt\n")
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert "requirements.txt" in done.stderr and "nowhere.txt" in done.stderr


@pytest.fixture
def git_repo(tmp_path):
    repos = tmp_path / "repos"
    repos.mkdir()
    repo = git_repos.make_git_repo(repos, "gitpkg", ["1.0", "2.0"])
    return repos, repo


def test_git_tag_is_pinned_to_its_commit(cli, tmp_path, channel_url, pypi, git_repo):
    repos, repo = git_repo
    sha_v1 = git_repos.head_sha(repo, "v1.0")
    project = write_project(tmp_path / "p", requirements=f"git+file://{repo}@v1.0#egg=gitpkg\n",
                            pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    data = yaml.safe_load((project / "materialize-lock.yml").read_text())
    entry = next(p for p in data["package"] if p["name"] == "gitpkg")
    assert entry["version"] == "1.0" and entry["url"].endswith(f"@{sha_v1}#egg=gitpkg")
    cli.ok("install", project, "--prefix", tmp_path / "env")
    assert run_python(tmp_path / "env", "import gitpkg; print(gitpkg.__version__)").stdout.strip() == "1.0"


def test_moving_branch_moves_only_when_relocked(cli, tmp_path, channel_url, pypi, git_repo):
    repos, repo = git_repo
    project = write_project(tmp_path / "p", requirements=f"git+file://{repo}@main#egg=gitpkg\n",
                            pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    first = (project / "materialize-lock.yml").read_text()
    new_sha = git_repos.commit_version(repo, "3.0")
    cli.ok("install", project, "--prefix", tmp_path / "env")
    assert run_python(tmp_path / "env", "import gitpkg; print(gitpkg.__version__)").stdout.strip() == "2.0"
    cli.ok("lock", project, "--channel", channel_url, "--upgrade")
    second = (project / "materialize-lock.yml").read_text()
    assert first != second and new_sha in second


def test_git_token_variable_stays_in_lockfile_and_expands_at_install(cli, tmp_path, channel_url, pypi, git_repo):
    repos, _ = git_repo
    token = "ghp_TopSecretToken_123456"
    with git_repos.serve_git_over_http(repos, auth=("gituser", token)) as base:
        host = base.split("://", 1)[1]
        project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url), requirements=(
            f"git+http://gituser:${{GIT_TOKEN}}@{host}/gitpkg.git@v1.0#egg=gitpkg\n"),
            files={".env": f"GIT_TOKEN={token}\n"})
        cli.ok("lock", project, "--channel", channel_url)
        text = (project / "materialize-lock.yml").read_text()
        assert "${GIT_TOKEN}" in text and token not in text
        done = cli.ok("install", project, "--prefix", tmp_path / "env")
        assert token not in done.stdout + done.stderr
    assert run_python(tmp_path / "env", "import gitpkg").returncode == 0
    for path in (tmp_path / "env").rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert token.encode() not in path.read_bytes(), path


def test_missing_variable_is_a_clear_error(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", pip_conf=pip_conf_for(pypi.url),
                            requirements="tinydep\ngit+http://${NOT_SET_ANYWHERE}@127.0.0.1:9/x.git@v1#egg=x\n")
    done = cli.fails(3, "lock", project, "--channel", channel_url)
    assert "requirements.txt:2" in done.stderr and "NOT_SET_ANYWHERE" in done.stderr


@pytest.mark.parametrize("kind", ["setup.py", "pyproject"])
def test_local_project_dot(cli, tmp_path, channel_url, pypi, kind):
    project = wheels.write_project(tmp_path / "p", "myservice", "0.3", kind=kind, requires=("tinydep>=2",))
    write_project(project, requirements=".\n", pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    data = yaml.safe_load((project / "materialize-lock.yml").read_text())
    locals_ = data["metadata"]["custom_metadata"]["materialize.local-projects"]
    assert '"name": "myservice"' in locals_ and '"digest"' in locals_
    assert _pip(project)["tinydep"] == "2.0" and "myservice" not in _pip(project)
    cli.ok("install", project, "--prefix", tmp_path / "env")
    assert run_python(tmp_path / "env", "import myservice, tinydep").returncode == 0
    cli.ok("lock", project, "--channel", channel_url, "--check")
    source = next(project.rglob("myservice/__init__.py"))
    source.write_text(source.read_text() + "CHANGED = True\n")
    cli.fails(7, "lock", project, "--channel", channel_url, "--check")
    cli.fails(7, "install", project, "--prefix", tmp_path / "env", "--locked")
