"""The CI workflows of docs/ci/ are real: they parse as YAML, every splitbrain command in them
parses with the CLI as it is (commands, options and their values), docs/ci.md shows each file
as it is, and the GitHub retry loop retries 255 and nothing else."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import click
import pytest
import yaml

from splitbrain.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
WORKFLOWS = sorted((DOCS / "ci").glob("*.yml"))
# A splitbrain invocation inside a shell line: up to the end of the line or a shell operator.
INVOCATION = re.compile(r"(?:^|[\s;&|(])splitbrain\s+([^;&|\n]*)")


def scripts(path: Path) -> list[str]:
    """The shell scripts a workflow runs: GitHub steps' ``run``, GitLab jobs' scripts."""
    doc = yaml.safe_load(path.read_text())
    if "jobs" in doc:
        return [step["run"] for job in doc["jobs"].values() for step in job["steps"]
                if "run" in step]
    return [line for job in doc.values() if isinstance(job, dict)
            for key in ("before_script", "script", "after_script") for line in job.get(key, [])]


def invocations(path: Path) -> list[list[str]]:
    """Every ``splitbrain ...`` command of a workflow, as argument lists."""
    found = []
    for script in scripts(path):
        for match in INVOCATION.finditer(script.replace("\\\n", " ")):
            found.append(shlex.split(match.group(1)))
    return found


def parse(args: list[str]) -> click.Context:
    """Resolve and parse ``args`` as the splitbrain CLI would, raising on any unknown command,
    option or bad value (--summary-md's folder is checked from the job's working directory)."""
    command: click.Command = cli
    while isinstance(command, click.Group):
        name, args = args[0], args[1:]
        sub = command.get_command(click.Context(command), name)
        assert sub is not None, f"splitbrain has no command {name!r}"
        command = sub
    return command.make_context(command.name or "", list(args))


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_splitbrain_command_of_a_workflow_exists(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    commands = invocations(path)
    assert commands, f"{path.name} runs no splitbrain command"
    for args in commands:
        parse(args)
    tests = [parse(args).params for args in commands if args[0] == "test"]
    assert any(p["test_count"] == 3 and p["fail_fast"] and p["summary_md"] for p in tests)


def test_the_workflows_keep_the_store_and_report_junit_always():
    github = yaml.safe_load((DOCS / "ci" / "github-actions.yml").read_text())
    steps = github["jobs"]["consistency"]["steps"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    junit = next(s for s in steps if "junit" in s.get("uses", ""))
    assert upload["if"] == "always()" and "store/" in upload["with"]["path"].split()
    assert junit["if"] == "always()" and junit["with"]["report_paths"] == "store/*/*/junit.xml"
    gitlab = yaml.safe_load((DOCS / "ci" / "gitlab-ci.yml").read_text())["splitbrain"]
    assert gitlab["artifacts"]["when"] == "always" and "store/" in gitlab["artifacts"]["paths"]
    assert gitlab["artifacts"]["reports"]["junit"] == "store/*/*/junit.xml"
    assert gitlab["retry"]["exit_codes"] == 255       # the tester could not run; never 1


@pytest.mark.parametrize("codes, runs, final", [
    ([255, 1], 2, 1),     # a tester failure is retried; the verdict that follows stands
    ([1], 1, 1),          # an invalid verdict is never retried
    ([2], 1, 2),
    ([255, 255], 2, 255),
    ([0], 1, 0),
])
@pytest.mark.integration
def test_the_github_step_retries_only_255(tmp_path, codes, runs, final):
    github = yaml.safe_load((DOCS / "ci" / "github-actions.yml").read_text())
    script = next(s["run"] for s in github["jobs"]["consistency"]["steps"]
                  if "splitbrain test" in s.get("run", ""))
    (tmp_path / "codes").write_text("\n".join(map(str, codes)) + "\n")
    fake = tmp_path / "splitbrain"
    fake.write_text('#!/bin/sh\necho run >> "$HOME/runs"\ncode=$(head -n1 "$HOME/codes")\n'
                    'sed -i 1d "$HOME/codes"\nexit "$code"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(["bash", "-e", "-c", script], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == final, done.stderr
    assert (tmp_path / "runs").read_text().count("run") == runs


def test_ci_md_shows_each_workflow_as_it_is_and_the_readme_links_it():
    doc = (DOCS / "ci.md").read_text()
    for path in WORKFLOWS:
        assert path.read_text() in doc, f"docs/ci.md does not show {path.name} as it is"
    assert "(docs/ci.md)" in (ROOT / "README.md").read_text()
