"""Downloads: a local HTTP server in a thread and file:// URLs; never the internet."""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from goldenlayers.commands import fetch_dataset as fetch_cmd
from goldenlayers.data.download import download, fetch, read_record, record_path
from goldenlayers.errors import DownloadError, InputError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "benchmarks" / "wikibio" / "knowedit_wikibio-test-all_sample.json"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """Serve a folder holding a copy of a shipped sample on 127.0.0.1; yields (base URL, folder)."""
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(SAMPLE, served / "wikibio.json")
    handler = functools.partial(_Quiet, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_http_download_ok(server, tmp_path):
    base, _ = server
    dest = tmp_path / "out" / "wikibio.json"
    assert download(f"{base}/wikibio.json", dest, sha(SAMPLE)) == sha(SAMPLE)
    assert dest.read_bytes() == SAMPLE.read_bytes()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["wikibio.json"]  # no temporary left


def test_checksum_mismatch_keeps_earlier_file(server, tmp_path):
    base, _ = server
    dest = tmp_path / "wikibio.json"
    dest.write_text("earlier download")
    wrong = "0" * 64
    with pytest.raises(DownloadError) as err:
        download(f"{base}/wikibio.json", dest, wrong)
    message = str(err.value)
    assert f"{base}/wikibio.json" in message and wrong in message and sha(SAMPLE) in message
    assert dest.read_text() == "earlier download"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served", "wikibio.json"]


def test_http_404(server, tmp_path):
    base, _ = server
    dest = tmp_path / "missing.json"
    with pytest.raises(DownloadError) as err:
        download(f"{base}/missing.json", dest, None)
    assert "404" in str(err.value) and f"{base}/missing.json" in str(err.value)
    assert not dest.exists() and not list(tmp_path.glob(".missing.json*"))


def test_connection_refused(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=f"127.0.0.1:{port}"):
        download(f"http://127.0.0.1:{port}/x.json", tmp_path / "x.json", None, timeout=5)


def test_file_url(tmp_path):
    dest = tmp_path / "copy.json"
    assert download(SAMPLE.as_uri(), dest, sha(SAMPLE)) == sha(SAMPLE)
    assert dest.read_bytes() == SAMPLE.read_bytes()
    with pytest.raises(DownloadError):
        download((tmp_path / "absent.json").as_uri(), tmp_path / "absent-copy.json")


def test_trust_on_first_use(server, tmp_path):
    base, served = server
    url = f"{base}/wikibio.json"
    dest = tmp_path / "downloads" / "wikibio" / "wikibio.json"
    first = fetch(url, dest)  # nothing known: trusted and recorded
    assert read_record(dest) == first == sha(SAMPLE)
    assert record_path(dest).read_text().split() == [first, "wikibio.json"]
    assert fetch(url, dest) == first  # same bytes: fine
    (served / "wikibio.json").write_text("[]")  # upstream changed under the same URL
    with pytest.raises(DownloadError, match=first):
        fetch(url, dest)
    assert dest.read_bytes() == SAMPLE.read_bytes() and read_record(dest) == first


def test_bad_sha256_argument(tmp_path):
    with pytest.raises(InputError) as err:
        download(SAMPLE.as_uri(), tmp_path / "x.json", "not-a-digest")
    assert err.value.field == "sha256"


def test_fetch_dataset_command(tmp_path):
    parser = argparse.ArgumentParser()
    fetch_cmd.add_arguments(parser)
    dest = tmp_path / "resources" / "downloads" / "wikibio" / "wikibio-test-all.json"
    args = parser.parse_args(["--dataset", "wikibio", "--url", SAMPLE.as_uri(), "--sha256", sha(SAMPLE).upper(),
                              "--output", str(dest)])
    fetch_cmd.run(args)
    assert dest.read_bytes() == SAMPLE.read_bytes() and read_record(dest) == sha(SAMPLE)
    bad = parser.parse_args(["--dataset", "wikibio", "--url", SAMPLE.as_uri(), "--sha256", "f" * 64,
                             "--output", str(tmp_path / "other.json")])
    with pytest.raises(DownloadError):
        fetch_cmd.run(bad)
    assert not (tmp_path / "other.json").exists()


def test_mismatch_says_what_to_delete_or_set(server, tmp_path):
    """A changed upstream file under a recorded checksum names the record to delete and the config key to set."""
    base, served = server
    url, dest = f"{base}/wikibio.json", tmp_path / "downloads" / "mine" / "wikibio.json"
    fetch(url, dest, key="datasets.mine.sha256")
    (served / "wikibio.json").write_text("[]")
    with pytest.raises(DownloadError) as err:
        fetch(url, dest, key="datasets.mine.sha256")
    message = str(err.value)
    assert f"delete that record" in message and str(record_path(dest)) in message
    assert "datasets.mine.sha256" in message and sha(served / "wikibio.json") in message
    with pytest.raises(DownloadError) as err:  # pinned in the config: the key to set, with the new checksum
        fetch(url, dest, sha(SAMPLE), key="datasets.mine.sha256")
    assert "set datasets.mine.sha256" in str(err.value) and "delete" not in str(err.value)
    record_path(dest).unlink()  # what the message says: now the new file is accepted
    assert fetch(url, dest) == sha(served / "wikibio.json")


def test_hub_file_through_huggingface_hub_offline(tmp_path):
    """A huggingface.co resolve URL is fetched with huggingface_hub: with HF_HUB_OFFLINE=1 and the file in the
    cache (HF_HOME) it is copied from there, sha256-checked; a file missing from the cache is a clear error."""
    import os
    import subprocess
    import sys

    from goldenlayers.data.sources import KNOWEDIT_REVISION, hub_file, resolve_download

    upstream = resolve_download("wikibio", {})
    target = hub_file(upstream.url)
    assert (target.repo_id, target.repo_type, target.revision) == ("zjunlp/KnowEdit", "dataset", KNOWEDIT_REVISION)
    home = tmp_path / "hf"
    snapshot = home / "hub" / "datasets--zjunlp--KnowEdit" / "snapshots" / KNOWEDIT_REVISION / target.filename
    snapshot.parent.mkdir(parents=True)
    shutil.copy(SAMPLE, snapshot)
    env = {**os.environ, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    dest = tmp_path / "resources" / "downloads" / "wikibio" / upstream.file_name

    def run(*args):
        return subprocess.run([sys.executable, "-m", "goldenlayers.cli", "fetch-dataset", "--dataset", "wikibio",
                               "--url", upstream.url, *args], capture_output=True, text=True, env=env, timeout=120)

    done = run("--sha256", sha(SAMPLE), "--output", str(dest))
    assert done.returncode == 0, done.stderr
    assert dest.read_bytes() == SAMPLE.read_bytes() and read_record(dest) == sha(SAMPLE)
    wrong = run("--sha256", "0" * 64, "--output", str(tmp_path / "other.json"))
    assert wrong.returncode == 2 and "checksum mismatch" in wrong.stderr and "datasets.wikibio.sha256" in wrong.stderr
    snapshot.unlink()
    missing = run("--output", str(tmp_path / "third.json"))
    assert missing.returncode == 2 and "HF_HUB_OFFLINE" in missing.stderr and "zjunlp/KnowEdit" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines()[-1].startswith("goldenlayers fetch-dataset: error: "), missing.stderr
