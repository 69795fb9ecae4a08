"""Compliance evidence reports (`forge-tui report`, `verify-report`; docs/report.md).

`evidence` reads the ledgers into typed rows, `queries` turns them into the evidence each control names,
`controls` loads the framework mappings (forge_tui/compliance/*.toml) and decides a status per control,
`sample` draws the reproducible audit sample, `render_*` write Markdown, JSON and HTML, and `bundle`
writes the population CSVs and the signed manifest that `verify-report` checks.
"""
