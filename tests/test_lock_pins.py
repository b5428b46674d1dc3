"""Issue 5 (lock side): re-locking keeps existing pins; --upgrade / --upgrade-package move them on purpose."""

from __future__ import annotations

from tests.helpers import lock_packages, pip_conf_for, write_project


def _pins(project):
    lockfile = project / "materialize-lock.yml"
    return lock_packages(lockfile, "conda"), lock_packages(lockfile, "pip")


def test_changing_one_requirement_moves_only_what_must_move(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", conda="tinyleaf<2\n", requirements="tinydep<2\n",
                            pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    conda, pip = _pins(project)
    assert (conda["tinyleaf"], pip["tinydep"]) == ("1.0", "1.0")

    (project / "conda-packages.txt").write_text("tinyleaf\ncondapy\n")
    (project / "requirements.txt").write_text("tinydep\nsix\n")
    cli.ok("lock", project, "--channel", channel_url)
    conda, pip = _pins(project)
    assert (conda["tinyleaf"], pip["tinydep"]) == ("1.0", "1.0"), "unchanged pins moved"
    assert "condapy" in conda and "six" in pip

    cli.ok("lock", project, "--channel", channel_url, "--upgrade-package", "tinydep")
    conda, pip = _pins(project)
    assert (conda["tinyleaf"], pip["tinydep"]) == ("1.0", "2.0")

    cli.ok("lock", project, "--channel", channel_url, "--upgrade")
    conda, pip = _pins(project)
    assert (conda["tinyleaf"], pip["tinydep"]) == ("2.0", "2.0")


def test_upgrade_package_moves_a_conda_pin(cli, tmp_path, channel_url, pypi):
    project = write_project(tmp_path / "p", conda="tinyleaf<2\n", pip_conf=pip_conf_for(pypi.url))
    cli.ok("lock", project, "--channel", channel_url)
    (project / "conda-packages.txt").write_text("tinyleaf\n")
    cli.ok("lock", project, "--channel", channel_url)
    assert _pins(project)[0]["tinyleaf"] == "1.0"
    cli.ok("lock", project, "--channel", channel_url, "--upgrade-package", "tinyleaf")
    assert _pins(project)[0]["tinyleaf"] == "2.0"
