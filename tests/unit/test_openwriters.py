"""openwriters.writers: which processes hold a file open for writing (the policy watch waits for them,
issue 10). Broken if a writer in another process goes unseen, or a reader counts as one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from forge_tui.daemon.openwriters import writers

pytestmark = pytest.mark.skipif(not Path("/proc/self/fdinfo").is_dir(), reason="needs Linux /proc")

HOLD = "import sys; f = open(sys.argv[1], sys.argv[2]); print('open', flush=True); sys.stdin.read()"


def hold(path: Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "open\n"
    return proc


@pytest.mark.parametrize("mode", ["ab", "r+b"])
def test_a_process_writing_the_file_is_seen_until_it_closes_it(tmp_path, mode):
    path = tmp_path / "policy.toml"
    path.write_bytes(b"version = 1\n")
    proc = hold(path, mode)
    try:
        assert proc.pid in writers(path)
    finally:
        proc.communicate("")
    assert writers(path) == []


def test_a_reader_is_not_a_writer_nor_is_another_file(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_bytes(b"version = 1\n")
    other = tmp_path / "other.toml"
    other.write_bytes(b"")
    reader, elsewhere = hold(path, "rb"), hold(other, "ab")
    try:
        assert writers(path) == []
    finally:
        reader.communicate("")
        elsewhere.communicate("")
    assert writers(tmp_path / "missing.toml") == []


def test_a_policy_held_open_for_writing_is_not_loaded_and_the_error_names_the_holder(tmp_path):
    """Broken if the policy watch parses a file another process is still writing (however long its
    pause), or hides which process holds back the reload."""
    from forge_tui.daemon.policy_watch import PolicyHolder

    path = tmp_path / "policy.toml"
    path.write_bytes(b'version = 1\ndefault = "ask"\n')
    holder = PolicyHolder(path, settle_s=0.001)
    holder.load_initial()
    first = holder.current.digest
    loose = b'version = 1\ndefault = "allow"\n'  # whole lines, valid: the first chunk of a longer save
    editor = hold(path, "r+b")
    try:
        path.write_bytes(loose)  # (the bytes the editor has written so far)
        events = holder.reload()
    finally:
        editor.communicate("")
    assert holder.current.digest == first, "a file still open for writing was put in force"
    assert [kind for kind, _ in events] == ["policy.error"]
    assert f"open for writing by pid {editor.pid}" in (holder.error or ""), holder.error
    assert [kind for kind, _ in holder.reload()] == ["policy.reloaded"]  # closed: now it loads
    assert holder.current.digest != first


def test_a_writer_that_closes_just_after_the_check_is_not_read_as_its_prefix(tmp_path):
    """The race seen under load (9 prefixes recorded, 927 reads of .env allowed in 200 saves): the two
    reads agreed on the prefix, then the editor wrote the rest and closed just before the writer check,
    which found nobody. Broken if `stable_read` returns bytes read before a check that found no writer
    (the check must come between the two reads it compares)."""
    from forge_tui.daemon.policy_watch import stable_read

    path = tmp_path / "policy.toml"
    prefix, rest = b'version = 1\ndefault = "allow"\n', b'\n[[rule]]\nid = "x"\nmatch = { kind = "deploy" }\n'
    path.write_bytes(prefix)
    editor = {"open": True}

    def writers(_path) -> list[int]:
        if editor["open"]:  # the editor finishes and closes right after this look
            editor["open"] = False
            with open(path, "ab") as fh:
                fh.write(rest)
        return []

    got = stable_read(path, 0.0, sleep=lambda _s: None, writers=writers)
    assert got is not None and got.data == prefix + rest, "bytes read before the writer closed were returned"
