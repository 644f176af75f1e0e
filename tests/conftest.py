"""Fixtures shared by the unit and functional suites."""
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# NOTE: the console scripts live beside the interpreter running pytest (the project venv), so
# the suite never depends on PATH or on a machine-specific location.
VENV_BIN = Path(sys.executable).parent


def script(name):
    """Return the path of one of the project's console scripts."""
    path = VENV_BIN / name
    if not path.exists():
        pytest.skip(f"console script {name} is not installed in {VENV_BIN}")
    return str(path)


@pytest.fixture(scope="session")
def repo_root():
    """Return the checkout's root directory."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def worker_id_safe(request):
    """Return the xdist worker id ("master" without xdist), for unique names."""
    return os.environ.get("PYTEST_XDIST_WORKER", "master")
