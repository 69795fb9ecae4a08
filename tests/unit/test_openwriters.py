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
