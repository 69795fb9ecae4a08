"""What importing the policy engine costs: only what is used (forge_tui/core/policy/__init__.py's lazy
names, forge_tui/core/lazyre.py's patterns compiled on first use, wcmatch and tomllib imported by what
needs them). Each check runs in a fresh interpreter, where nothing was imported before."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from importlib import import_module

import pytest

from forge_tui.core.lazyre import LazyPattern, lazy_patterns

ENGINE = (
    "forge_tui.core.shell",
    "forge_tui.core.policy.cache",
    "forge_tui.core.policy.evaluate",
    "forge_tui.core.policy.guard",
    "forge_tui.core.policy.load",
    "forge_tui.core.policy.match",
    "forge_tui.core.policy.model",
    "forge_tui.core.policy.normalize",
)
HEAVY = ("wcmatch", "tomllib", *ENGINE)


def _fresh(code: str) -> dict:
    """Run `code` in a new interpreter; it prints one JSON value, returned here."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def _loaded_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    return set(_fresh(code)) & set(HEAVY)


def test_importing_the_package_loads_none_of_the_engine() -> None:
    """If this fails, `import forge_tui.core.policy` (or a constant of its model) loads modules the
    caller did not ask for again: every command that touches the package pays for the whole engine."""
    assert _loaded_after("import forge_tui.core.policy") == set()
    assert _loaded_after("from forge_tui.core.policy.model import MATCH_KEYS") == {
        "forge_tui.core.policy.model"
    }
    assert _loaded_after("from forge_tui.core.policy import parse_duration") <= {
        "forge_tui.core.policy.load",
        "forge_tui.core.policy.match",
        "forge_tui.core.policy.model",
    }


def test_a_policy_without_path_patterns_never_imports_wcmatch() -> None:
    """If this fails, wcmatch (and its regular expressions) is imported again where no path pattern is."""
    code = (
        "from forge_tui.core.policy import Context, decide, parse_policy\n"
        'p = parse_policy(b\'version = 1\\n[[rule]]\\nid = "t"\\nmatch = { command = "pytest*" }\\n'
        'decision = "allow"\\n\')\n'
        "decide(p, {'kind': 'shell.exec', 'command': 'pytest -q'}, Context.for_project('/tmp'))\n"
    )
    loaded = _loaded_after(code)
    assert "wcmatch" not in loaded and "tomllib" in loaded


def test_importing_the_engine_compiles_no_regular_expression() -> None:
    """If this fails, a module of the engine compiles a regular expression when it is imported (a
    module-level re.compile): every process that imports it pays for it, used or not."""
    code = (
        "import json, re, sys\n"
        "calls = []\n"
        "orig = re._compile\n"
        "def spy(p, f):\n"
        "    fr = sys._getframe(1)\n"
        "    while fr.f_globals.get('__name__', '').split('.')[0] == 're':\n"
        "        fr = fr.f_back\n"
        "    calls.append((fr.f_globals.get('__name__', '?'), str(p)))\n"
        "    return orig(p, f)\n"
        "re._compile = spy\n"
        f"for m in {ENGINE!r}:\n"
        "    __import__(m)\n"
        "print(json.dumps([c for c in calls if c[0].startswith('forge_tui')]))\n"
    )
    assert _fresh(code) == []


def test_the_package_names_are_the_modules_objects() -> None:
    """If this fails, a lazy name of the package gives something else than its module defines."""
    import forge_tui.core.policy as policy

    homes = policy._HOME
    assert set(homes) == set(policy.__all__), "__all__ and the lazy names differ"
    for name in policy.__all__:
        assert getattr(policy, name) is getattr(import_module(homes[name]), name), name
    assert set(policy.__all__) <= set(dir(policy))
    with pytest.raises(AttributeError):
        _ = policy.no_such_name


def test_a_lazy_pattern_matches_as_the_compiled_one_and_then_is_it() -> None:
    """If this fails, a LazyPattern answers otherwise than re.compile would, or it stays in its module
    after its first use (each later use would then pay for the indirection)."""
    ns: dict = {}
    ns["RX"] = LazyPattern(ns, r"(\d+)([smh]?)", re.IGNORECASE)
    ns["ALIAS"] = ns["RX"]
    want = re.compile(r"(\d+)([smh]?)", re.IGNORECASE)
    lazy = ns["RX"]
    assert lazy_patterns(ns) == {"RX": lazy, "ALIAS": lazy}
    assert lazy.pattern == want.pattern
    assert lazy.fullmatch("10M").groups() == want.fullmatch("10M").groups()
    assert ns["RX"] is want and ns["ALIAS"] is want, "the module still names the lazy object"
    assert lazy_patterns(ns) == {}
    assert lazy.search("x 5s").span() == want.search("x 5s").span()  # a reference kept elsewhere works
    assert lazy.sub("N", "a1b22") == want.sub("N", "a1b22")


def test_every_lazy_pattern_of_the_engine_compiles() -> None:
    """If this fails, a pattern of the engine has a syntax error that only its first use would show."""
    for name in ENGINE:
        mod = import_module(name)
        for attr, lazy in lazy_patterns(vars(mod)).items():
            assert isinstance(lazy.compiled, re.Pattern), f"{name}.{attr}"
            assert type(getattr(mod, attr)) is re.Pattern


def test_the_default_policys_digest_is_the_hash_of_no_bytes() -> None:
    """If this fails, the default policy's digest (a literal, so that hashlib is not imported for it) is
    not sha256(b"") and the ledger would name a policy nobody can find."""
    from forge_tui.core.policy.model import EMPTY_DIGEST, default_policy

    assert EMPTY_DIGEST == hashlib.sha256(b"").hexdigest() == default_policy().digest
