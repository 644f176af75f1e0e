"""The one table `make bench` prints: figure, this service, Glance 33, ratio, target, verdict.

A row's target judges either the ratio this ÷ Glance 33 (``on='ratio'``: the project's
targets against the reference) or this service's own value (``on='this'``: a ratio inside
one run such as upload ÷ bare pipeline, or a bound such as an RSS growth in MiB). A figure
that was not measured (no ``--reference``, a phase turned off) is shown as "-", and so is a
verdict that needs it.
"""

import dataclasses
import math


@dataclasses.dataclass
class Row:
    """One figure of the table."""

    figure: str
    this: float | None
    reference: float | None = None
    target: tuple[str, float] | None = None   # ('>=', 0.95) or ('<=', 64)
    on: str = 'ratio'                          # what the target judges: 'ratio' or 'this'
    fmt: str = '%.0f'

    @property
    def ratio(self):
        """Return this ÷ Glance 33, or None when either side is missing."""
        if not _known(self.this) or not _known(self.reference) or self.reference == 0:
            return None
        return self.this / self.reference

    @property
    def judged(self):
        """Return the value the target applies to (None: not measured)."""
        value = self.ratio if self.on == 'ratio' else self.this
        return value if _known(value) else None

    def verdict(self):
        """Return 'pass', 'FAIL', or '-' (no target, or nothing to judge)."""
        if self.target is None or self.judged is None:
            return '-'
        op, bound = self.target
        ok = self.judged >= bound if op == '>=' else self.judged <= bound
        return 'pass' if ok else 'FAIL'

    def cells(self):
        """Return the row's six cells as text."""
        ratio = self.ratio
        target = '-'
        if self.target is not None:
            target = '%s %g%s' % (self.target[0], self.target[1],
                                  '' if self.on == 'ratio' else ' (this)')
        return [self.figure, _fmt(self.fmt, self.this), _fmt(self.fmt, self.reference),
                '-' if ratio is None else '%.2f' % ratio, target, self.verdict()]


HEADER = ['figure', 'this service', 'Glance 33', 'ratio', 'target', 'pass/fail']


def _known(value):
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _fmt(fmt, value):
    return fmt % value if _known(value) else '-'


def render(rows, title=None):
    """Return the table as aligned text (first column left, the others right)."""
    lines = [HEADER] + [row.cells() for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]

    def line(cells):
        return '  '.join(cell.ljust(width) if i == 0 else cell.rjust(width)
                         for i, (cell, width) in enumerate(zip(cells, widths, strict=True)))

    text = [line(HEADER), '  '.join('-' * w for w in widths)]
    text += [line(cells) for cells in lines[1:]]
    if title:
        text.insert(0, title)
    return '\n'.join(text)


def failures(rows):
    """Return the figures whose verdict is FAIL."""
    return [row.figure for row in rows if row.verdict() == 'FAIL']
