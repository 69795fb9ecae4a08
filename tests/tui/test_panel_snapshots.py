"""The look of the verify and policy screens, compared with reviewed SVG snapshots.

The data is the deterministic sample project (fixed ids, keys and clock), the terminal size is fixed,
and the screens are shown by a bare host app, so a difference means the screens changed. After a
deliberate change: `pytest tests/tui/test_panel_snapshots.py --snapshot-update`, then look at the SVGs.
"""

from __future__ import annotations

import pytest
from panel_kit import Host, status_for

from forge_tui.core.policy import parse_policy
from forge_tui.errors import PolicyError
from forge_tui.tui.sample import SAMPLE_POLICY, append_unauthorized_outcome, tamper
from forge_tui.tui.screens.policy import PolicyScreen
from forge_tui.tui.screens.verify import VerifyScreen

SIZE = (100, 32)


async def verified(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_verify_clean(snap_compare, sample):
    app = Host(lambda: VerifyScreen(sample.project, workers=1))
    assert snap_compare(app, terminal_size=SIZE, run_before=verified)


def test_verify_tampered(snap_compare, sample):
    append_unauthorized_outcome(sample)
    tamper(sample)
    app = Host(lambda: VerifyScreen(sample.project, workers=1))
    assert snap_compare(app, terminal_size=SIZE, run_before=verified)


def test_policy_valid_without_daemon(snap_compare, sample):
    app = Host(lambda: PolicyScreen(sample.project))
    assert snap_compare(app, terminal_size=SIZE)


def test_policy_reload_error_from_daemon(snap_compare, sample):
    broken = SAMPLE_POLICY.replace('decision = "deny"', 'decision = "denny"')
    sample.project.policy_path.write_text(broken)
    with pytest.raises(PolicyError) as err:
        parse_policy(broken.encode(), str(sample.project.policy_path))
    status = status_for(sample.project, SAMPLE_POLICY, err.value)
    app = Host(lambda: PolicyScreen(sample.project, status))
    assert snap_compare(app, terminal_size=SIZE)
