"""Shared helpers of the template tests: the templates, decoded as CloudFormation reads them."""

from pathlib import Path

import pytest
from cfnlint.decode import decode

INFRA = Path(__file__).resolve().parent.parent
TEMPLATES = ("messaging.yaml", "network.yaml", "bootstrap.yaml", "production.yaml")


def load(name):
    """The template `infra/NAME` as a dict (`!Ref` becomes {"Ref": ...}, etc.); fails on errors."""
    template, matches = decode(str(INFRA / name))
    assert not matches, f"{name} does not decode: {matches}"
    return template


@pytest.fixture(scope="session")
def templates():
    return {name: load(name) for name in TEMPLATES}


@pytest.fixture(scope="session")
def production(templates):
    return templates["production.yaml"]


def resources(template, type_):
    """(logical id, properties) of every resource of one type."""
    return [
        (name, res.get("Properties", {}))
        for name, res in template["Resources"].items()
        if res["Type"] == type_
    ]
