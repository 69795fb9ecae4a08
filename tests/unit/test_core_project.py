"""Project files (docs/design.md §3) read from a repository anyone can edit: anything malformed, including bytes
that are not UTF-8, is a ConfigError with the file named, never an unexpected exception."""

from __future__ import annotations

import pytest

from forge_tui.core.project import find_project, init_project, load_project_file, read_pub_file
from forge_tui.core.reviewers import load_reviewers
from forge_tui.errors import ConfigError, NotAProject

NOT_UTF8 = b"# \xff\xfe\n"


def test_project_toml_not_utf8(project):
    (project.forge_dir / "project.toml").write_bytes(NOT_UTF8)
    with pytest.raises(ConfigError, match="project.toml"):
        load_project_file(project.forge_dir)


def test_local_toml_not_utf8(project):
    (project.state_dir / "local.toml").write_bytes(NOT_UTF8)
    with pytest.raises(ConfigError, match="local.toml"):
        project.local_ledger_id()


def test_pub_file_not_utf8(project):
    lid = project.local_ledger_id()
    pub = project.pub_dir / f"{lid}.pub"
    pub.write_bytes(pub.read_bytes() + NOT_UTF8)
    with pytest.raises(ConfigError, match=f"{lid}.pub"):
        read_pub_file(pub)


def test_reviewers_not_utf8(project):
    project.reviewers_path.write_bytes(NOT_UTF8)
    with pytest.raises(ConfigError, match="reviewers.toml"):
        load_reviewers(project.reviewers_path)


def test_init_keeps_a_gitattributes_that_is_not_utf8(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    legacy = "*.txt working-tree-encoding=latin1 # caf\u00e9\n".encode("latin-1")
    (root / ".gitattributes").write_bytes(legacy)
    init_project(root)
    data = (root / ".gitattributes").read_bytes()
    assert data.startswith(legacy)
    assert b"\n.forge/ledger/** -text merge=forge-ledger\n" in data


def test_project_id_must_be_a_uuid_and_the_project_is_found_from_below(project):
    sub = project.root / "a" / "b"
    sub.mkdir(parents=True)
    assert find_project(sub).project_id == project.project_id
    (project.forge_dir / "project.toml").write_text('project_id = "not-a-uuid"\n')
    with pytest.raises(ConfigError, match="UUID"):
        find_project(sub)


def test_no_project(tmp_path):
    with pytest.raises(NotAProject):
        find_project(tmp_path)
