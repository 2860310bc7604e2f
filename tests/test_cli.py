"""The CLI reads well: every option of every subcommand has help text, help is plain text (no reStructuredText
markup), and the SLURM profile installer writes a plain profile where Snakemake looks for it by name."""

from __future__ import annotations

import argparse

import pytest
import yaml

from goldenlayers import cli
from goldenlayers.errors import InputError
from goldenlayers.slurm_profile import install_profile, profiles_root

MARKUP = ("``", ":func:", ":class:", ":mod:", ":data:")


def _parsers():
    root = cli.build_parser()
    yield "goldenlayers", root
    for action in root._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def test_every_option_has_plain_help_text():
    for name, parser in _parsers():
        for text in (parser.description or "", parser.format_help()):
            assert not any(mark in text for mark in MARKUP), (name, text)
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"goldenlayers {name} {'/'.join(action.option_strings) or action.dest} has no help"


def test_slurm_profile_is_installed_where_snakemake_finds_it(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert profiles_root() == tmp_path / "snakemake"
    site = {"gpu_partition": "gpu-a100", "cpu_partition": "short", "account": "proj42"}
    path = install_profile(site=site, status_command="squeue", poll_seconds=5)
    assert path == tmp_path / "snakemake" / "slurm" / "config.yaml"
    profile = yaml.safe_load(path.read_text())
    assert "__use_yte__" not in profile and "__definitions__" not in profile
    assert profile["executor"] == "slurm" and profile["slurm-status-command"] == "squeue"
    assert profile["default-resources"]["slurm_partition"] == "'short'"  # a Python expression for Snakemake
    assert profile["default-resources"]["slurm_account"] == "'proj42'"
    assert profile["set-resources"]["edit"]["slurm_partition"] == "'gpu-a100'"
    assert profile["seconds-between-status-checks"] == 5
    assert "snakemake --cores 8 --profile slurm" in path.read_text()
    bare = install_profile(site={"gpu_partition": "", "cpu_partition": "", "account": ""}, status_command="sacct")
    profile = yaml.safe_load(bare.read_text())
    assert "slurm_partition" not in profile["default-resources"] and "set-resources" not in profile
    assert "slurm-status-command" not in profile
    path.write_text("executor: slurm\n")  # a profile the user wrote: not replaced without --force
    with pytest.raises(InputError, match="--force"):
        install_profile(site=site, status_command="sacct")
    install_profile(site=site, status_command="sacct", force=True)
