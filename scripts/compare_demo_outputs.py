#!/usr/bin/env python3
"""Compares two output directories of scripts/demo.sh: an uninterrupted run (A)
and a run that was killed and restarted (B).

    compare_demo_outputs.py A B

Every file must exist in both (so no temporary file of a killed process may
be left in B) and be byte-identical, except for a short list of files that
record how the run went rather than what it produced:

- logs of the run itself: `web/server.log` (the HTTP server's request log,
  with times; a restarted run has more requests) is skipped;
- JSON files are compared as JSON after two normalisations: the output
  directory's own path (A and B live in different directories; `eval.json`
  and `stats.json` name their inputs) is replaced by `OUT`, and keys that
  hold wall-clock measurements (see TIMING_KEYS) are dropped, as is
  `spilled_bytes` of `vocab/vocab.json` (and its copy in `stats.json`), and
  the stage records' `generation`, `upstream` and `tasks_fingerprint`
  (hashes over parameters that name the run's absolute input paths): how
  much the vocabulary's counting spilled to disk depends on how its threads
  shared the work, and differs between two uninterrupted runs as well (the
  vocabulary itself does not). Everything else in them (counts, losses,
  accuracies, per-query figures) must match;
- `train/train_log.jsonl` is compared line by line the same way (step, loss,
  learning rate, gradient norm must match; per-step times are dropped);
- the stats reports `run/stats/report.md` and `report.html`, and those of
  the worldwide run in `world/stats/` (renderings of
  `stats.json`) are compared line by line after the same path replacement; a
  line may differ only where it shows a time (it names a timing key or a
  value in seconds) and only in its numbers.

Exits 1 and names every difference when the directories differ.
"""

import json
import os
import re
import sys

# Skipped entirely: the HTTP server's request log (times, and a restarted run
# serves some requests twice).
SKIPPED = {"web/server.log"}

# The stats reports: text renderings of stats.json, compared line by line.
REPORTS = {
    "run/stats/report.md",
    "run/stats/report.html",
    "world/stats/report.md",
    "world/stats/report.html",
}

# Keys whose values are wall-clock measurements: a key is dropped when its
# last component (after the last '.', for flattened keys) matches.
TIMING_KEYS = re.compile(
    r"(^|_)(seconds|secs|ms|duration|elapsed|per_sec|per_second|per_task_second)(_|$)"
    r"|^samples_per_sec$|^rows_per_task_second$|^task_seconds$"
)


# Other measurements of how a run went rather than what it produced, and the
# stage records' identifiers of a run's state (`_stages/*/*.json`): hashes
# over the stages' parameters, which name absolute input paths.
MEASUREMENT_KEYS = {"spilled_bytes", "generation", "upstream", "tasks_fingerprint"}


def is_timing(key):
    """Whether a key (flattened keys: any of its dotted parts) holds a time
    (or another measurement of the run, see MEASUREMENT_KEYS)."""
    return any(TIMING_KEYS.search(part) or part in MEASUREMENT_KEYS for part in key.split("."))


# Report lines that show a time (a timing key, or a value in seconds) or
# another measurement.
TIMING_LINE = re.compile(r"seconds|duration|elapsed|_ms\b|per_sec|\d s\b|spilled\\?_bytes")
NUMBER = re.compile(r"\d+(\.\d+)?k?")


def report_difference(ta, tb):
    """The first line where two reports differ other than in a time, or None."""
    la, lb = ta.splitlines(), tb.splitlines()
    if len(la) != len(lb):
        return f"{len(la)} lines != {len(lb)} lines"
    for i, (x, y) in enumerate(zip(la, lb)):
        if x == y:
            continue
        timing = TIMING_LINE.search(x) and TIMING_LINE.search(y)
        if not timing or NUMBER.sub("#", x) != NUMBER.sub("#", y):
            return f"line {i + 1}: {x[:200]!r} != {y[:200]!r}"
    return None


def normalise(value, root):
    """JSON value with the output directory's path replaced and timings dropped."""
    if isinstance(value, dict):
        return {
            normalise(k, root): normalise(v, root)
            for k, v in value.items()
            if not is_timing(k)
        }
    if isinstance(value, list):
        return [normalise(v, root) for v in value]
    if isinstance(value, str):
        return value.replace(root, "OUT")
    return value


def first_difference(a, b, where="$"):
    """Where two normalised JSON values first differ (a JSON path), or None."""
    if type(a) is not type(b):
        return f"{where}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{where}.{k}: only in {'B' if k not in a else 'A'}"
            d = first_difference(a[k], b[k], f"{where}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} items != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{where}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{where}: {a!r} != {b!r}"


def load_json_lines(path, is_lines):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if is_lines:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def files_under(root):
    out = set()
    for dirpath, _, names in os.walk(root):
        for name in names:
            out.add(os.path.relpath(os.path.join(dirpath, name), root))
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a_root, b_root = (os.path.realpath(p) for p in sys.argv[1:])
    a_files, b_files = files_under(a_root) - SKIPPED, files_under(b_root) - SKIPPED
    problems = []
    for rel in sorted(a_files - b_files):
        problems.append(f"{rel}: only in A")
    for rel in sorted(b_files - a_files):
        problems.append(f"{rel}: only in B")
    compared = {"bytes": 0, "json": 0, "reports": 0}
    for rel in sorted(a_files & b_files):
        pa, pb = os.path.join(a_root, rel), os.path.join(b_root, rel)
        with open(pa, "rb") as f:
            da = f.read()
        with open(pb, "rb") as f:
            db = f.read()
        is_lines = rel.endswith(".jsonl")
        if rel.endswith(".json") or is_lines:
            compared["json"] += 1
            if da == db:
                continue
            try:
                ja = normalise(load_json_lines(pa, is_lines), a_root)
                jb = normalise(load_json_lines(pb, is_lines), b_root)
            except (ValueError, UnicodeDecodeError) as e:
                problems.append(f"{rel}: not readable JSON in A or B ({e})")
                continue
            d = first_difference(ja, jb)
            if d:
                problems.append(f"{rel}: {d}")
        elif rel in REPORTS:
            compared["reports"] += 1
            if da == db:
                continue
            d = report_difference(
                da.decode("utf-8").replace(a_root, "OUT"), db.decode("utf-8").replace(b_root, "OUT")
            )
            if d:
                problems.append(f"{rel}: {d}")
        else:
            compared["bytes"] += 1
            if da != db:
                problems.append(f"{rel}: bytes differ ({len(da)} vs {len(db)} bytes)")
    for p in problems:
        print(f"DIFFERENT: {p}")
    print(
        f"compared {compared['bytes']} files byte for byte, {compared['json']} JSON files and "
        f"{compared['reports']} reports (without times and the output path): "
        f"{len(problems)} difference(s)"
    )
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
