"""The workspace installs every package so that they import together."""

import importlib

import pytest


@pytest.mark.parametrize("module", ["kopano", "members", "gateway"])
def test_package_imports(module: str) -> None:
    assert importlib.import_module(module).__doc__
