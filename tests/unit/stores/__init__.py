"""Tests of the stores library."""
