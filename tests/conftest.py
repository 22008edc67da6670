"""Shared fixtures. The Anny body is built once per machine into the hipart cache (about a minute the first
time, milliseconds afterwards) and shared by every test that needs it."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anny_body():
    from hipart.body.anny_body import AnnyBody

    return AnnyBody()


@pytest.fixture(scope="session")
def capture(anny_body):
    from hipart.data.synthetic import SyntheticH36M

    return SyntheticH36M(anny_body, frames=250)
