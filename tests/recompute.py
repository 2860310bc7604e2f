"""Recompute a saved run's tables with the aggregate stage's own rules, for the record check and its tiny-config
twin: restore the saved files into a fresh copy of the workflow, drop every table (the per-(model, editor,
dataset) case tables too), mark the restored per-case files up to date, run the aggregate stage, and compare."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from workflow_copy import copy_workflow, job_stats, workflow_env

TABLES = Path("results/tables")


def snakemake(workdir: Path, *args: str, timeout: int = 1500) -> subprocess.CompletedProcess:
    cmd = ["timeout", "-k", "10", str(timeout), sys.executable, "-m", "snakemake", "--replace-workflow-config", *args]
    return subprocess.run(cmd, cwd=workdir, env=workflow_env(workdir), capture_output=True, text=True)


def recompute_tables(record: Path, workdir: Path, configfile: str) -> tuple[Path, list[str]]:
    """(the fresh copy, the saved table files relative to the record) after the aggregate stage ran again there
    from the saved per-case files. Raises AssertionError with Snakemake's output if a step fails or a job other
    than the aggregate stage's would run."""
    from goldenlayers.record import restore

    fresh = copy_workflow(workdir)
    restored = restore(record, fresh, fresh / ".snakemake" / "restored.txt")
    tables = sorted(path for path in restored if Path(path).is_relative_to(TABLES))
    assert tables, f"{record} holds no tables"
    shutil.rmtree(fresh / TABLES)
    kept = [path for path in restored if not Path(path).is_relative_to(TABLES)]
    result = snakemake(fresh, *kept, "--configfile", configfile, "--cores", "1", "--touch")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    dry = snakemake(fresh, "aggregate", "analyse", "--configfile", configfile, "-n", "--quiet", "rules")
    planned = set(job_stats(dry.stdout + "\n" + dry.stderr))
    assert planned and planned <= {"collect_edits", "aggregate", "analyse"}, (dry.stdout + dry.stderr)[-3000:]
    result = snakemake(fresh, "aggregate", "analyse", "--configfile", configfile, "--cores", "2")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return fresh, tables


def differing_tables(record: Path, fresh: Path, tables: list[str]) -> list[str]:
    """The saved tables (CSV and Markdown, where a number a reader sees lives) whose recomputed bytes differ."""
    return [path for path in tables if path.endswith((".csv", ".md"))
            and (record / path).read_bytes() != (fresh / path).read_bytes()]
