"""The results file of a bench script that trains one run per item (a digit, a label draw).

Each finished run appends one JSON line to `<root>/results.jsonl`; `--table` prints a
markdown table of the newest line of each item instead of training.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any


def newest_rows(path: str, key: str) -> dict[Any, dict]:
    """The newest line of each `row[key]` in a results file, by that value."""
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            rows[row[key]] = row
    return rows


def run_or_table(
    root: str,
    items: str,
    overrides: list[str],
    show_table: bool,
    run_one: Callable[[str, int, list[str]], dict],
    table: Callable[[str], str],
) -> None:
    """Prints `table(results)`, or runs each item and appends (and prints) its result.

    Args:
      root: directory of the runs and of `results.jsonl`.
      items: comma-separated integers, e.g. `"0,1,2"`.
      overrides: `--set` overrides passed to every run.
      show_table: print the table of the results so far and run nothing.
      run_one: `(root, item, overrides) -> row`, one run.
      table: the results file's path -> the markdown table.
    """
    results = os.path.join(root, "results.jsonl")
    if show_table:
        print(table(results))
        return
    os.makedirs(root, exist_ok=True)
    for item in [int(i) for i in items.split(",")]:
        row = run_one(root, item, overrides)
        with open(results, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
