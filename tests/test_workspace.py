"""The workspace installs every package so that they import together."""

import importlib

import pytest


@pytest.mark.parametrize("module", ["kopano", "members", "gateway"])
def test_package_imports(module: str) -> None:
    assert importlib.import_module(module).__doc__


def test_test_module_names_are_unique() -> None:
    """pytest imports test folders without packages, so two files with one name would collide."""
    from collections import Counter
    from pathlib import Path

    names = Counter(
        path.name for path in Path(__file__).parent.rglob("*.py") if path.name != "__init__.py"
    )
    assert [name for name, count in names.items() if count > 1 and name != "conftest.py"] == []
