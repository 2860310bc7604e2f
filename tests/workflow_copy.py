"""A copy of the workflow for the tests that run Snakemake (DAG, reruns, SLURM), and the environment to run it in."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ["workflow", "config", "data", "src", "profiles", "envs", ".gitignore"]


def copy_workflow(dst: Path) -> Path:
    """The workflow's sources (not results/ or resources/) in dst; the package code too, so that rules that
    name plot modules as inputs see the copy when PYTHONPATH points at dst/src."""
    dst.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dst / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy2(src, dst / part)
    return dst


def workflow_env(workdir: Path) -> dict[str, str]:
    """The copy's package first on the path, and the venv's `goldenlayers` on PATH for the jobs."""
    return {**os.environ, "PYTHONPATH": str(workdir / "src"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
