"""Install the workflow's SLURM profile where Snakemake finds profiles by name, so that the cluster command
is the one users type: ``snakemake --cores 8 --profile slurm`` from the repository root.

Snakemake looks up ``--profile NAME`` in the working directory, then in the user's configuration folder
(``~/.config/snakemake/NAME``, or ``$XDG_CONFIG_HOME/snakemake/NAME``), then the site's. This renders the
template ``profiles/slurm/config.yaml`` (a YTE template reading the site settings from the environment) with
the site's values fixed, and writes it there as plain YAML with a header saying how it was made.

Site settings: GPU partition, CPU partition and account, each from ``GL_SLURM_GPU_PARTITION``,
``GL_SLURM_CPU_PARTITION`` and ``GL_SLURM_ACCOUNT``, else asked for on a terminal, else left to the cluster's
defaults. The status command: ``sacct`` where accounting works, else ``squeue`` (found out by running sacct).
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import yaml

from .errors import InputError

# The profile template: the checkout's profiles/slurm/config.yaml when the package runs from the repository
# (pip install -e), else the working directory's (`snakedeploy deploy-workflow` copies profiles/ into a deployment).
_CHECKOUT_TEMPLATE = Path(__file__).resolve().parents[2] / "profiles" / "slurm" / "config.yaml"
TEMPLATE = _CHECKOUT_TEMPLATE if _CHECKOUT_TEMPLATE.is_file() else Path("profiles") / "slurm" / "config.yaml"
SETTINGS = {  # option -> (environment variable, question)
    "gpu_partition": ("GL_SLURM_GPU_PARTITION", "partition for GPU jobs (edits, values, locators)"),
    "cpu_partition": ("GL_SLURM_CPU_PARTITION", "partition for CPU jobs (data, tables, figures)"),
    "account": ("GL_SLURM_ACCOUNT", "account to charge"),
}


def profiles_root() -> Path:
    """The user's Snakemake profile folder, as Snakemake computes it (platformdirs, honours XDG_CONFIG_HOME)."""
    from platformdirs import AppDirs

    return Path(AppDirs("snakemake", "snakemake").user_config_dir)


def site_value(option: str, given: str | None, ask: bool) -> str:
    """``given``, else the environment variable, else the answer on a terminal, else "" (cluster default)."""
    variable, question = SETTINGS[option]
    if given is not None:
        return given
    if variable in os.environ:
        return os.environ[variable]
    if ask and sys.stdin.isatty():
        return input(f"{question} [{variable}; empty: the cluster's default]: ").strip()
    return ""


def sacct_works(timeout: float = 15.0) -> bool:
    """True when ``sacct`` answers (a cluster with accounting); Snakemake's default status command needs it."""
    try:
        result = subprocess.run(["sacct", "--noheader", "-X", "--starttime", "now-1minutes", "-o", "JobID"],
                                capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


@contextmanager
def _environment(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def render(template: str | os.PathLike, site: dict[str, str]) -> dict:
    """The template with the site values put in (its YTE code reads them from the environment)."""
    import yte

    variables = {SETTINGS[k][0]: v for k, v in site.items()}
    try:
        with _environment(variables), open(template, encoding="utf-8") as handle:
            return yte.process_yaml(handle)
    except FileNotFoundError:
        raise InputError("the profile template is missing", file=template) from None


def install_profile(*, name: str = "slurm", root: str | os.PathLike | None = None,
                    template: str | os.PathLike = TEMPLATE, site: dict[str, str], status_command: str = "auto",
                    poll_seconds: int | None = None, jobs: int | None = None, retries: int | None = None,
                    force: bool = False) -> Path:
    """Write ``<root>/<name>/config.yaml``; return its path. An existing profile is replaced only with
    ``force`` or when this function wrote it (its header says so)."""
    if not name or name in (".", "..") or "/" in name:
        raise InputError(f"not a profile name: {name!r}", field="--name")
    profile = render(template, site)
    if status_command == "auto":
        status_command = "sacct" if sacct_works() else "squeue"
    if status_command == "squeue":
        profile["slurm-status-command"] = "squeue"
    if poll_seconds is not None:
        profile["slurm-init-seconds-before-status-checks"] = poll_seconds
        profile["seconds-between-status-checks"] = poll_seconds
    if jobs is not None:
        profile["jobs"] = jobs
    if retries is not None:
        profile["retries"] = retries
    dest = Path(root or profiles_root()) / name / "config.yaml"
    marker = "# written by goldenlayers slurm-profile"
    if dest.exists() and not force and not dest.read_text(encoding="utf-8").startswith(marker):
        raise InputError("a profile of this name exists and was not written by goldenlayers; pass --force to "
                         "replace it", file=dest)
    settings = ", ".join(f"{k}={v or '(cluster default)'}" for k, v in site.items())
    header = (f"{marker} on {datetime.date.today()} from {template}\n"
              f"# site settings: {settings}; status command: {status_command}\n"
              f"# Use from the workflow's root folder:  snakemake --cores 8 --profile {name}\n"
              f"# (profiles/default, the workflow profile, applies too.) Rerun `make slurm-profile` to change.\n")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    tmp.write_text(header + yaml.safe_dump(profile, sort_keys=False), encoding="utf-8")
    tmp.replace(dest)
    return dest
