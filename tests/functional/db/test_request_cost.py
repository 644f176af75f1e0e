"""What each request type costs the registry and MariaDB (benchmarks/cost_model.py, small).

The bench's figures feed docs/scale-out.md's model; this keeps them from growing unnoticed:
one registry call and one SELECT for a show, one writeset for a create, at most five for an
upload.
"""
import argparse

import pytest

from benchmarks import cost_model

pytestmark = pytest.mark.mariadb

# request type: (registry calls, DB statements, selects, changes), each at most
BOUNDS = {
    "create": (1, 4, 1, 1),
    "show": (1, 1, 1, 0),
    "list limit=20": (1, 3, 2, 0),
    "upload 1 MiB": (4, 19, 8, 5),
    "download 1 MiB": (1, 1, 1, 0),
    "member add": (3, 10, 7, 1),
    "delete": (3, 15, 6, 5),
}


def test_request_costs_stay_within_the_model():
    rows = cost_model.measure(argparse.Namespace(requests=4, size_mib=1))
    seen = {r["request"]: (r["registry_calls"], r["statements"], r["selects"], r["changes"])
            for r in rows}
    assert seen.keys() == BOUNDS.keys()
    for name, bound in BOUNDS.items():
        assert all(v <= b + 1e-9 for v, b in zip(seen[name], bound, strict=True)), \
            (name, seen[name], bound)
    assert seen["show"][:3] == (1, 1, 1)
    assert seen["upload 1 MiB"][3] >= 1
