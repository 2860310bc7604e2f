"""What a run cost, from Snakemake's benchmark files: CPU and wall seconds per rule and dataset, and peak memory.

Reads every ``*.tsv`` under a ``logs/benchmarks`` folder: a run's own, or the copies ``make record-save`` keeps
in the record (``record/smollm2-135m/benchmarks``), so the cost figures of docs/RESULTS.md can be recomputed from
committed files. Wall seconds depend on what else shared the machine; CPU seconds much less.

    python benchmarks/record_cost.py                                   # the record's saved benchmark files
    python benchmarks/record_cost.py --root logs/benchmarks            # this folder's last run
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def job_of(relative: Path) -> tuple[str, str]:
    """(rule, dataset) of a benchmark file from its path under logs/benchmarks/ (the rules' ``benchmark:`` paths,
    workflow/rules/edit.smk, locate.smk, stats.smk); ``-`` for the statistics, which belong to no dataset."""
    parts = relative.with_suffix("").parts[1:]  # drop the model
    if parts[0] == "pre_edit":  # pre_edit/{dataset}
        return "pre_edit", parts[1]
    if parts[0] == "values":  # values/{vkey}/{dataset}/{sites}
        return "target_values", parts[2]
    if parts[0] in ("edit", "edit_choice"):  # edit/{editor}/{dataset}/layers{chunk}, edit_choice/.../{locator}
        return parts[0], parts[2]
    if parts[0] == "stats":  # stats/{corpus}_n{n}_{dtype}/layer{layer}
        return "layer_stats", "-"
    return parts[1], parts[0]  # {dataset}/{lga,lga_test,cma}


def read(root: Path) -> list[dict]:
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        with path.open() as handle:
            record = next(csv.DictReader(handle, delimiter="\t"))
        rule, dataset = job_of(path.relative_to(root))
        rss = record.get("max_rss", "-")
        rows.append({"rule": rule, "dataset": dataset, "wall": float(record["s"]),
                     "cpu": float(record["cpu_time"]) if record.get("cpu_time") not in (None, "", "-", "NA") else 0.0,
                     "rss_mib": float(rss) if rss not in ("-", "NA", "") else 0.0})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(REPO / "record/smollm2-135m/benchmarks"),
                        help="a logs/benchmarks folder (default: the record's saved copies)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    rows = read(root)
    if not rows:
        raise SystemExit(f"no benchmark files under {root}")
    table: dict[tuple[str, str], dict] = defaultdict(lambda: {"jobs": 0, "wall": 0.0, "cpu": 0.0, "rss_mib": 0.0})
    for row in rows:
        for key in ((row["rule"], row["dataset"]), (row["rule"], "all"), ("all", row["dataset"]), ("all", "all")):
            entry = table[key]
            entry["jobs"] += 1
            entry["wall"] += row["wall"]
            entry["cpu"] += row["cpu"]
            entry["rss_mib"] = max(entry["rss_mib"], row["rss_mib"])
    print(f"benchmark files under {root}: {len(rows)} jobs")
    print(f"{'rule':<14} {'dataset':<17} {'jobs':>5} {'CPU s':>10} {'CPU h':>7} {'wall s':>10} {'peak MiB':>9}")
    for (rule, dataset), entry in sorted(table.items(), key=lambda kv: (kv[0][0] == "all", kv[0][0],
                                                                           kv[0][1] == "all", kv[0][1])):
        print(f"{rule:<14} {dataset:<17} {entry['jobs']:>5} {entry['cpu']:>10,.0f} {entry['cpu'] / 3600:>7.2f} "
              f"{entry['wall']:>10,.0f} {entry['rss_mib']:>9,.0f}")


if __name__ == "__main__":
    main()
