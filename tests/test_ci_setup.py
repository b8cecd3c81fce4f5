"""The system packages tests need: ``system_packages.need`` skips (fails on CI) when a listed
command is missing, and ``.ci/setup`` reads the same list, installing nothing unless asked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import system_packages

ROOT = Path(__file__).resolve().parents[1]
LISTED = """# command  package  needed by
sh                      dash     every shell script
i10-no-such-command     i10-nope a test that wants it
"""


@pytest.fixture
def listed(tmp_path, monkeypatch) -> Path:
    """A package list of one installed command (sh) and one that is not."""
    path = tmp_path / "system-packages"
    path.write_text(LISTED)
    monkeypatch.setattr(system_packages, "LIST", path)
    monkeypatch.delenv("CI", raising=False)
    return path


def test_the_list_is_read_as_written(listed):
    assert system_packages.packages() == {
        "sh": ("dash", "every shell script"),
        "i10-no-such-command": ("i10-nope", "a test that wants it")}


def test_an_installed_command_gives_its_path(listed):
    assert system_packages.need("sh") == shutil.which("sh")


def test_a_missing_command_skips_with_the_package_and_how_to_install_it(listed):
    with pytest.raises(pytest.skip.Exception, match=r"i10-no-such-command is not installed "
                       r"\(package i10-nope; '\.ci/setup --install' installs it\)"):
        system_packages.need("i10-no-such-command")


def test_a_missing_command_fails_on_ci(listed, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="yet this is CI: .ci/run should have run "
                                                    ".ci/setup first"):
        system_packages.need("i10-no-such-command")


def test_a_command_not_in_the_list_is_named_with_the_file_to_add_it_to(listed):
    with pytest.raises(LookupError, match=f"ssh is not in {listed}; add a line for it there"):
        system_packages.need("ssh")


def test_the_project_list_names_what_the_browser_and_netns_tests_need():
    rows = system_packages.packages()
    assert rows["chromium"][0] == "chromium"
    assert rows["nft"][0] == "nftables" and rows["iptables-restore"][0] == "iptables"


@pytest.mark.integration
def test_ci_setup_installs_nothing_unless_asked_and_refuses_unknown_options(tmp_path):
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "setup", tmp_path / ".ci" / "setup")
    packages = tmp_path / ".ci" / "system-packages"

    def setup(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(tmp_path / ".ci" / "setup"), *args], capture_output=True,
                              text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})

    packages.write_text(LISTED.replace("i10-no-such-command", "# i10-no-such-command"))
    done = setup()
    assert (done.returncode, done.stdout) == (
        0, ".ci/setup: every system package the tests need is installed.\n")
    packages.write_text(LISTED)
    missing = setup()  # CI unset, --install not given: lists what is missing, installs nothing
    assert missing.returncode == 0, missing.stderr
    assert missing.stdout.startswith(".ci/setup: missing i10-nope; the tests needing them will "
                                     "skip")
    bad = setup("--bogus")
    assert bad.returncode == 254
    assert bad.stderr == (".ci/setup: unknown option '--bogus'; run '.ci/setup' or "
                          "'.ci/setup --install'.\n")
