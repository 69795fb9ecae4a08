"""Who the pair socket admits (forge_tui/daemon/admission.py): only the accounts the owner listed in a
file of their own, never the owner's uid there, nobody when the file is unsafe or malformed."""

from __future__ import annotations

import os
import pwd

import pytest

from forge_tui.daemon.admission import PAIR_FILE, default_socket, load_admission, prepare_pair_dir

NOBODY = pwd.getpwnam("nobody")
PID = "6f1c2a4e-9b3d-4c8e-a1f0-5d7e2b9c4a61"


def write(tmp_path, text: str, mode: int = 0o600):
    path = tmp_path / PAIR_FILE
    path.write_text(text)
    path.chmod(mode)
    return path


def test_no_file_admits_nobody(tmp_path):
    """Broken if pair review is on without the owner asking for it."""
    adm = load_admission(tmp_path, PID)
    assert not adm.anyone and not adm.admits(NOBODY.pw_uid)


def test_listed_user_is_admitted_and_the_owner_never_is(tmp_path):
    """Broken if a listed account is refused, an unlisted one admitted, or the owner's own uid (which
    an agent running as the owner shares) reaches the reviewer role through the pair socket."""
    write(tmp_path, 'users = ["nobody"]\n')
    adm = load_admission(tmp_path, PID)
    assert adm.admits(NOBODY.pw_uid)
    assert not adm.admits(os.getuid())
    assert not adm.admits(NOBODY.pw_uid + 12345)
    assert adm.socket == default_socket(PID)


def test_group_members_are_admitted_by_primary_or_supplementary_group(tmp_path):
    """Broken if `groups` admits nobody, or admits an account outside the group."""
    import grp

    group = grp.getgrgid(NOBODY.pw_gid)
    write(tmp_path, f'groups = ["{group.gr_name}"]\n')
    adm = load_admission(tmp_path, PID)
    assert adm.admits(NOBODY.pw_uid, NOBODY.pw_gid)
    assert not adm.admits(NOBODY.pw_uid + 12345, NOBODY.pw_gid + 12345)


@pytest.mark.parametrize(
    ("text", "mode", "why"),
    [
        ('users = ["nobody"]\n', 0o622, "nobody else can write"),
        ('users = ["nobody"]\nextra = 1\n', 0o600, "unknown keys"),
        ('users = ["no-such-account-x"]\n', 0o600, "no OS account"),
        ("uids = [0, 1]\n" if os.getuid() == 0 else f"uids = [{os.getuid()}]\n", 0o600, "own account"),
        ('users = "nobody"\n', 0o600, "must be a list"),
        ('socket = "relative.sock"\nusers = ["nobody"]\n', 0o600, "absolute"),
        ("users = [\n", 0o600, ""),
    ],
)
def test_unsafe_or_malformed_file_admits_nobody_and_says_why(tmp_path, text, mode, why):
    """Broken if a file the agent (or anyone) could write, or one that does not parse, opens the
    reviewer role (fail closed)."""
    write(tmp_path, text, mode)
    adm = load_admission(tmp_path, PID)
    assert not adm.anyone and not adm.admits(NOBODY.pw_uid)
    assert adm.problems and why in adm.problems[0]


def test_pair_folder_is_made_passable_not_listable_and_must_be_ours(tmp_path):
    """Broken if the pair socket's folder lets others list or replace the socket."""
    folder = tmp_path / "pair"
    prepare_pair_dir(folder)
    assert folder.stat().st_mode & 0o777 == 0o711
    prepare_pair_dir(folder)  # an existing folder of ours is fine
    folder.chmod(0o777)
    from forge_tui.errors import ConfigError

    with pytest.raises(ConfigError, match="nobody else can write"):
        prepare_pair_dir(folder)
