"""Prints the soak table from the scenario records (one JSON object per line).

    python3 Tests/soak/table.py REPORT.jsonl [FAILED_SCENARIO_NUMBER...]

A scenario that failed is marked so, whatever it recorded; exits 1 if any failed or if
any record shows a lost or doubled change.
"""
import json
import sys

path, failed = sys.argv[1], set(sys.argv[2:])
with open(path) as file:
    records = [json.loads(line) for line in file if line.strip()]
records.sort(key=lambda record: record["scenario"])

header = ("scenario", "runs", "contracts", "lost", "duplicated", "time to converge")
rows = [
    (
        record["scenario"] + (" (FAILED)" if record["scenario"].split()[0] in failed else ""),
        str(record["runs"]),
        f"{record['contracts']:,}",
        str(record["lost"]),
        str(record["duplicated"]),
        f"{record['convergeSeconds']:.1f} s",
    )
    for record in records
]
recorded = {record["scenario"].split()[0] for record in records}
rows += [(f"{number} (FAILED, nothing recorded)", "-", "-", "-", "-", "-") for number in sorted(failed - recorded)]

widths = [max(len(row[column]) for row in [header] + rows) for column in range(len(header))]
print()
for index, row in enumerate([header] + rows):
    print(" | ".join(cell.ljust(width) if column == 0 else cell.rjust(width) for column, (cell, width) in enumerate(zip(row, widths))))
    if index == 0:
        print("-+-".join("-" * width for width in widths))

bad = failed or any(record["lost"] or record["duplicated"] for record in records)
sys.exit(1 if bad else 0)
