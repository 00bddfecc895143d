"""TensorBoard event files read back in the order their events were written.

Importable from any test directory (`tests/` is on `sys.path` through its `conftest.py`).

A log directory holds one file per writer, named
`events.out.tfevents.<second>.<host>.<pid>.<counter>.v2`. The names do not sort by time:
two writers opened in the same second by one process differ only in the counter, and
"10" sorts before "9". The events' own wall times give the order.
"""

from __future__ import annotations

import glob
import os

import tensorflow as tf


def read_values(logdir: str) -> dict[str, list[tuple[int, tf.compat.v1.Summary.Value]]]:
    """Returns tag -> [(step, value)] across every event file in `logdir`, oldest first."""
    events = []
    for path in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
        events.extend(tf.compat.v1.train.summary_iterator(path))
    out: dict[str, list[tuple[int, tf.compat.v1.Summary.Value]]] = {}
    for event in sorted(events, key=lambda e: e.wall_time):  # stable: file order on ties
        for value in event.summary.value:
            out.setdefault(value.tag, []).append((event.step, value))
    return out
