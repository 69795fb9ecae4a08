"""The policy screen shows the file, its digest and rules, and makes a bad policy impossible to miss.

Without a daemon the screen validates the file itself and points at the broken line; with a daemon
status it shows the digest in force and the daemon's last reload error, and the rules still in force.
"""

from __future__ import annotations

import hashlib
import io

import pytest
from panel_kit import Host, status_for
from rich.console import Console
from textual.widgets import DataTable, Static

from forge_tui.core.policy import parse_policy
from forge_tui.errors import PolicyError
from forge_tui.tui.sample import SAMPLE_POLICY
from forge_tui.tui.screens.policy import PolicyScreen

BROKEN = SAMPLE_POLICY.replace('decision = "deny"', 'decision = "denny"')
BROKEN_LINE = BROKEN.split("\n").index('decision = "denny"') + 1


def text_of(screen, selector: str) -> str:
    """What the Static shows, as plain text (its content rendered by rich, markup never applied)."""
    console = Console(width=200, color_system=None, record=True, file=io.StringIO())
    console.print(screen.query_one(selector, Static).content)
    return console.export_text()


def rows(screen) -> list[list[str]]:
    table = screen.query_one("#policy-rules", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_valid_policy_shows_digest_rules_and_source(sample):
    digest = hashlib.sha256(SAMPLE_POLICY.encode()).hexdigest()
    app = Host(lambda: PolicyScreen(sample.project))
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#policy-error").has_class("hidden")
        info = text_of(screen, "#policy-info")
        assert f"digest {digest}" in info and "valid" in info and "invalid" not in info
        assert "approval timeout 15 min" in info and "120/min" in info
        table = rows(screen)
        assert [r[1] for r in table] == [
            "read-only",
            "edit-project",
            "protect-auth",
            "no-force-push",
            "tests",
            "push",
            "deploy-after-tests",
        ]
        by_id = {r[1]: r for r in table}
        assert by_id["no-force-push"][2] == "deny"
        assert by_id["no-force-push"][3].startswith("kind=shell.exec  command=git push --force*")
        assert by_id["read-only"][0] == str(SAMPLE_POLICY.split("\n").index("[[rule]]") + 1)
        assert "after tests" in by_id["deploy-after-tests"][4]
        source = text_of(screen, "#policy-source-text")
        assert 'id = "protect-auth"' in source


async def test_broken_policy_shows_error_with_line(sample):
    sample.project.policy_path.write_text(BROKEN)
    with pytest.raises(PolicyError):  # the fixture really is invalid
        parse_policy(BROKEN.encode())
    app = Host(lambda: PolicyScreen(sample.project))
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        box = screen.query_one("#policy-error")
        assert not box.has_class("hidden") and box.display
        err = text_of(screen, "#policy-error")
        assert "INVALID POLICY" in err
        assert f"line {BROKEN_LINE}, column 1" in err
        assert "not 'denny'" in err
        assert f'{BROKEN_LINE} │ decision = "denny"' in err  # the offending line is quoted
        assert f"error at line {BROKEN_LINE}" in text_of(screen, "#policy-source-title")
        assert "invalid" in text_of(screen, "#policy-info")
        assert rows(screen) == []
        # Fix the file and re-read: the error goes away.
        sample.project.policy_path.write_text(SAMPLE_POLICY)
        await pilot.press("r")
        await pilot.pause()
        assert screen.query_one("#policy-error").has_class("hidden")
        assert len(rows(screen)) == 7


async def test_daemon_status_with_last_error_keeps_rules_in_force(sample):
    sample.project.policy_path.write_text(BROKEN)
    with pytest.raises(PolicyError) as err:
        parse_policy(BROKEN.encode(), str(sample.project.policy_path))
    status = status_for(sample.project, SAMPLE_POLICY, err.value)
    app = Host(lambda: PolicyScreen(sample.project, status))
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        err = text_of(screen, "#policy-error")
        in_force = status["policy"]["digest"]
        assert "POLICY RELOAD FAILED" in err and f"digest {in_force[:12]}" in err
        assert f"line {BROKEN_LINE}, column 1" in err
        assert str(sample.project.root) not in err  # the path is said once, in the title, relative
        info = text_of(screen, "#policy-info")
        assert f"in force   digest {in_force}" in info
        assert "the file differs from the policy in force" in info
        table = rows(screen)
        assert len(table) == 7 and table[3][1:3] == ["no-force-push", "deny"]
        # The rules in force keep their line and what they match, as the daemon holds them.
        assert table[3][0] == "24" and table[3][3].startswith("kind=shell.exec  command=git push --force*")
        assert "from the daemon" in text_of(screen, "#policy-rules-title")
        # A later status (policy.reloaded after the fix) clears the banner.
        sample.project.policy_path.write_text(SAMPLE_POLICY)
        screen.show_status(status_for(sample.project, SAMPLE_POLICY))
        await pilot.pause()
        assert screen.query_one("#policy-error").has_class("hidden")
        assert "differs" not in text_of(screen, "#policy-info")


async def test_the_location_comes_from_the_error_object_not_its_message(sample):
    """Broken if the screen reads line and column back out of the message text (issue 12): a message
    that merely looks located must not be pointed at, and a location the daemon sends in `error_at`
    must be shown even when the message does not spell it."""
    sample.project.policy_path.write_text(BROKEN)
    lookalike = status_for(sample.project, SAMPLE_POLICY, f"policy.toml:{BROKEN_LINE}:1: looks located")
    app = Host(lambda: PolicyScreen(sample.project, lookalike))
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.pause()
        err = text_of(app.screen, "#policy-error")
        assert "looks located" in err and "column" not in err
        told = status_for(sample.project, SAMPLE_POLICY)
        told["policy"]["error"] = "rule 'no-force-push' is broken"
        told["policy"]["error_at"] = {
            "line": BROKEN_LINE,
            "col": 1,
            "detail": "decision must be allow, ask or deny",
        }
        app.screen.show_status(told)
        await pilot.pause()
        err = text_of(app.screen, "#policy-error")
        assert f"line {BROKEN_LINE}, column 1: decision must be allow, ask or deny" in err
        assert f'{BROKEN_LINE} │ decision = "denny"' not in err  # not the file's own error: not quoted


def test_the_daemon_status_carries_where_the_policy_error_is(tmp_path):
    """Broken if the daemon's status gives the console only a message to pick apart: `error_at` holds
    the parser's line, column and detail, and goes away with the error."""
    from forge_tui.daemon.policy_watch import PolicyHolder

    path = tmp_path / "policy.toml"
    path.write_text(SAMPLE_POLICY)
    holder = PolicyHolder(path, settle_s=0.01)
    holder.load_initial()
    path.write_text(BROKEN)
    assert [kind for kind, _body in holder.reload()] == ["policy.error"]
    at = holder.describe()["error_at"]
    assert (at["line"], at["col"]) == (BROKEN_LINE, 1) and "denny" in at["detail"]
    assert not at["detail"].startswith(str(path))
    path.write_text(SAMPLE_POLICY)
    holder.reload()
    assert holder.describe()["error"] is None and holder.describe()["error_at"] is None


async def test_policy_text_is_literal(sample):
    """Markup and escape sequences in the file are shown as written, not interpreted."""
    hostile = SAMPLE_POLICY.replace(
        'reason = "pushes leave this machine"', 'reason = "[bold red]pushes[/] \\u001b[2J leave"'
    )
    sample.project.policy_path.write_text(hostile)
    app = Host(lambda: PolicyScreen(sample.project))
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        push = next(r for r in rows(screen) if r[1] == "push")
        assert push[4].startswith("“[bold red]pushes[/] \\x1b[2")
        source = text_of(screen, "#policy-source-text")
        assert 'reason = "[bold red]pushes[/] \\u001b[2J leave"' in source
        # A raw escape byte in the file (invalid TOML) is shown as a visible escape, never sent.
        sample.project.policy_path.write_text(hostile.replace("# The demo", "# \x1b[2J[b]x The demo"))
        await pilot.press("r")
        await pilot.pause()
        source = text_of(screen, "#policy-source-text")
        assert "# \\x1b[2J[b]x The demo" in source and "\x1b" not in source
        assert "INVALID POLICY" in text_of(screen, "#policy-error")


async def test_missing_policy_file(sample):
    sample.project.policy_path.unlink()
    app = Host(lambda: PolicyScreen(sample.project))
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.pause()
        err = text_of(app.screen, "#policy-error")
        assert "no such policy file" in err
