"""The bench's one table: ratios to Glance 33, targets and verdicts (benchmarks/table.py)."""

import math

from benchmarks.table import Row, failures, render


def test_ratio_is_this_over_glance33():
    row = Row('image-show (req/s)', 1000, 200, ('>=', 5))
    assert row.ratio == 5
    assert row.verdict() == 'pass'


def test_below_the_ratio_target_fails():
    row = Row('image-show (req/s)', 900, 200, ('>=', 5))
    assert row.verdict() == 'FAIL'
    assert failures([row]) == ['image-show (req/s)']


def test_without_reference_the_column_and_the_ratio_verdict_are_dashes():
    row = Row('image-show (req/s)', 1000, None, ('>=', 5))
    assert row.ratio is None
    assert row.cells()[1:] == ['1000', '-', '-', '>= 5', '-']


def test_a_target_on_this_service_is_judged_without_reference():
    row = Row('upload / bare pipeline', 0.93, target=('>=', 0.95), on='this', fmt='%.2f')
    assert row.verdict() == 'FAIL'
    assert row.cells()[4] == '>= 0.95 (this)'


def test_an_upper_bound_passes_at_the_bound():
    assert Row('api RSS growth (MiB)', 64, target=('<=', 64), on='this').verdict() == 'pass'
    assert Row('api RSS growth (MiB)', 65, target=('<=', 64), on='this').verdict() == 'FAIL'


def test_not_measured_is_a_dash_not_a_pass():
    for value in (None, math.nan):
        row = Row('x', value, target=('<=', 1.5), on='this')
        assert row.verdict() == '-'
        assert row.cells()[1] == '-'


def test_render_aligns_every_row_under_the_header():
    text = render([Row('image-show (req/s)', 1000, 200, ('>=', 5)),
                   Row('download (MB/s)', 2500.4, None)], title='t')
    lines = text.splitlines()
    assert lines[0] == 't'
    assert lines[1].startswith('figure')
    assert len({len(line) for line in lines[1:]}) == 1
    assert lines[3].split() == ['image-show', '(req/s)', '1000', '200', '5.00', '>=', '5', 'pass']


def test_isolation_rows_judge_this_service_and_show_glance33_beside_it():
    from benchmarks import bench_isolation

    this = {'transfers': 200, 'tricklers': 200, 'target_ms': 100.0, 'rest_p99_ms': 9.0,
            'transfers_p99_ms': 40.0, 'transfers_timeouts': 0, 'checksums_ok': 199,
            'tricklers_p99_ms': 120.0, 'tricklers_timeouts': 0, 'dropped': 200,
            'peak_rss_mib': 120}
    ref = dict(this, transfers_p99_ms=5000.0, transfers_timeouts=95, dropped=0)
    verdicts = {r.figure: (r.verdict(), r.reference) for r in bench_isolation.rows(this, ref)}
    assert verdicts == {
        'show p99 at rest (ms)': ('-', 9.0),
        'show p99, 200 slow transfers (ms)': ('pass', 5000.0),
        'show timeouts, 200 slow transfers': ('pass', 95),
        'slow transfers with the right checksum': ('FAIL', 199),
        'show p99, 200 header tricklers (ms)': ('FAIL', 120.0),
        'show timeouts, 200 header tricklers': ('pass', 0),
        'header tricklers dropped': ('pass', 0),
        'api process peak RSS, slow transfers (MiB)': ('-', None)}
