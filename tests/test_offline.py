"""Air-gapped installs: `materialize fetch` warms the cache (conda archives and wheels, sha256-checked),
then `install --offline` (or a plain install) works with every server stopped, and builds the very
same tree as an online install."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request

from tests.helpers import pip_conf_for, run_python, write_project
from tests.prefix_checks import snapshot, tree_diff
from tests.world import conda_channel, pypi_server


def test_fetch_then_install_with_every_server_stopped(cli, tmp_path, channel, pypi):
    packages = tmp_path / "index"  # a private copy of the public index, served by servers this test stops
    shutil.copytree(pypi.packages_dir, packages)
    prefix = tmp_path / "env"
    warm = {"MATERIALIZE_CACHE_DIR": str(tmp_path / "warm-cache")}
    with conda_channel.ChannelServer(channel) as conda_server, pypi_server.start_pypi_server(packages) as index:
        project = write_project(tmp_path / "proj", conda="tinyapp\ncondapy=1.0\n", requirements="tinyweb\n",
                                pip_conf=pip_conf_for(index.url))
        cli.ok("lock", project, "--channel", conda_server.url)
        cli.ok("install", project, "--prefix", prefix, env={"MATERIALIZE_CACHE_DIR": str(tmp_path / "online")})
        online = snapshot(prefix)
        shutil.rmtree(prefix)
        done = cli.ok("fetch", project, "--json", env=warm)
        assert json.loads(done.stdout)["data"] == {"artifacts": 9, "conda": 5, "pypi": 4, "not_fetched": []}
    assert _reachable((project / "materialize-lock.yml").read_text()) == []  # both servers are down

    cold = {"MATERIALIZE_CACHE_DIR": str(tmp_path / "cold-cache")}
    done = cli.fails(5, "install", project, "--offline", "--prefix", tmp_path / "cold", env=cold)
    assert "is not in the cache and --offline forbids downloading it" in done.stderr
    assert "hint: run 'materialize fetch'" in done.stderr

    cli.ok("install", project, "--offline", "--prefix", prefix, env=warm)
    assert tree_diff(online, snapshot(prefix)) == [], "an offline install differs from the online one"
    cli.ok("verify", project, "--prefix", prefix)
    cli.ok("install", project, "--prefix", tmp_path / "plain", env=warm)  # no --offline: the cache suffices
    done = run_python(tmp_path / "plain", "import tinyweb, tinydep, condapy; print(tinydep.__version__)")
    assert done.returncode == 0 and done.stdout.strip() == "2.0", done.stderr


def _reachable(lockfile: str) -> list[str]:
    urls = sorted(set(re.findall(r"url: (http://\S+)", lockfile)))
    assert len(urls) >= 9, urls  # the channel and every artifact are served over HTTP
    alive = []
    for url in urls:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            alive.append(url)
        except OSError:
            pass
    return alive
