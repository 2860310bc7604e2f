"""Publish round trip: the archive verifies; a changed, added or removed member makes verification fail."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from goldenlayers.cli import main
from goldenlayers.errors import InputError
from goldenlayers.publish import MANIFEST, publish, verify


@pytest.fixture
def project(tmp_path):
    (tmp_path / "results/tables").mkdir(parents=True)
    (tmp_path / "results/figures").mkdir(parents=True)
    (tmp_path / "results/tables/golden_layers.csv").write_text("model,layer\nm,3\n")
    (tmp_path / "results/figures/fig.png").write_bytes(b"\x89PNG fake")
    (tmp_path / "results/tables/.golden_layers.csv.x.part").write_text("half-written")
    return tmp_path


def rewrite(archive, out, change):
    """Copy ``archive`` to ``out`` passing each (name, bytes) through ``change`` (None drops the member)."""
    with tarfile.open(archive, "r:gz") as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member).read()
            result = change(member.name, data)
            if result is None:
                continue
            for name, blob in (result if isinstance(result, list) else [(member.name, result)]):
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                dst.addfile(info, io.BytesIO(blob))


def test_round_trip_and_reproducible(project):
    out = project / "results/publish/goldenlayers-t.tar.gz"
    config = {"run_name": "t", "seed": 0}
    manifest = publish([project / "results/tables", project / "results/figures"], out, config, "t", root=project)
    assert set(manifest["files"]) == {"results/tables/golden_layers.csv", "results/figures/fig.png",
                                      "config.resolved.json"}
    assert manifest["config"] == config and "pandas" in manifest["packages"] and "git" in manifest
    summary = verify(out)
    assert summary["ok"] and summary["files"] == 3
    first = out.read_bytes()
    publish([project / "results/tables", project / "results/figures"], out, config, "t", root=project)
    assert out.read_bytes() == first  # same files and config: the same archive bytes


@pytest.mark.parametrize("tamper", ["change", "add", "remove", "manifest"])
def test_tampered_archive_fails(project, tamper):
    out = project / "a.tar.gz"
    publish([project / "results"], out, {"run_name": "t"}, "t", root=project)
    bad = project / "bad.tar.gz"

    def change(name, data):
        if tamper == "change" and name.endswith("golden_layers.csv"):
            return data.replace(b"3", b"4")
        if tamper == "remove" and name.endswith("fig.png"):
            return None
        if tamper == "add" and name.endswith("fig.png"):
            return [(name, data), (name.replace("fig.png", "extra.png"), b"x")]
        if tamper == "manifest" and name.endswith(MANIFEST):
            manifest = json.loads(data)
            manifest["config"]["run_name"] = "other"
            return json.dumps(manifest).encode()
        return data

    rewrite(out, bad, change)
    with pytest.raises(InputError):
        verify(bad)
    assert main(["verify-publish", str(bad)]) == 2


def test_cli_round_trip(project, monkeypatch):
    monkeypatch.chdir(project)
    assert main(["publish", "--files", "results", "--config-json", '{"run_name": "c"}', "--run-name", "c",
                 "--out", "results/publish/goldenlayers-c.tar.gz"]) == 0
    assert main(["verify-publish", "results/publish/goldenlayers-c.tar.gz", "--receipt", "r.json",
                 "--manifest", "m.json"]) == 0
    assert json.loads((project / "r.json").read_text())["ok"] is True
    with tarfile.open(project / "results/publish/goldenlayers-c.tar.gz") as tar:
        stored = tar.extractfile("goldenlayers-c/MANIFEST.json").read()
    assert (project / "m.json").read_bytes() == stored  # the archive's manifest, byte for byte
    assert json.loads(stored)["run_name"] == "c"


def test_manifest_copy_is_written_only_for_a_sound_archive(project, monkeypatch):
    monkeypatch.chdir(project)
    assert main(["publish", "--files", "results", "--config-json", '{"run_name": "c"}', "--run-name", "c",
                 "--out", "results/publish/goldenlayers-c.tar.gz"]) == 0
    with tarfile.open("results/publish/goldenlayers-c.tar.gz") as tar:  # drop one member: the manifest lies
        members = [(m, tar.extractfile(m).read()) for m in tar if m.isfile()]
    with tarfile.open("bad.tar.gz", "w:gz") as tar:
        dropped = next(m.name for m, _ in members if not m.name.endswith(MANIFEST))
        for member, data in members:
            if member.name != dropped:
                tar.addfile(member, io.BytesIO(data))
    assert main(["verify-publish", "bad.tar.gz", "--manifest", "m.json"]) == 2
    assert not (project / "m.json").exists()
