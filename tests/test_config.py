"""The config is validated at start-up; a wrong key or value fails with a message naming it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from goldenlayers.config import layer_grid, load_config, validate_config
from goldenlayers.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def base():
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


def test_shipped_configs_validate_and_fill_defaults():
    for name in ("config.yaml", "tiny.yaml", "paper.yaml", "sweep.yaml"):
        config = load_config(REPO / "config" / name)
        assert config["lga"]["tukey_k"] == 1.0
        assert config["split"]["proxy_fraction"] == 0.1
    paper = load_config(REPO / "config/paper.yaml")
    assert [len(layer_grid(paper, m)) for m in paper["models"]] == [48, 32, 48]


@pytest.mark.parametrize(
    "mutate, key, words",
    [
        (lambda c: c["split"].update(proxy_sise=3), "split.proxy_sise", "unknown key"),
        (lambda c: c.update(edtors=["rome"]), "edtors", "unknown key"),
        (lambda c: c["datasets"].update(wikibio={"split": {"test_sise": 1}}), "datasets.wikibio.split.test_sise", "unknown key"),
        (lambda c: c["split"].update(proxy_size="three"), "split.proxy_size", "not of type"),
        (lambda c: c["datasets"]["counterfact"].update(lga={"proxy_sise": 3}), "datasets.counterfact.lga.proxy_sise",
         "unknown key"),
        (lambda c: c.update(editors=["rome", "grace"]), "editors.1", "grace"),
        (lambda c: c["datasets"].update(mquake={}), "datasets.mquake.format", "needs `format`"),
        (lambda c: c["datasets"].update(mquake={"format": "counterfact"}), "datasets.mquake.path", "needs `path`"),
        (lambda c: c["datasets"].update({"..": {"path": "x.json", "format": "counterfact"}}), "datasets...", "not a valid name"),
        (lambda c: c["datasets"].update(mine={"path": "a.json", "url": "file:///a.json", "format": "counterfact"}),
         "datasets.mine.url", "not both"),
        (lambda c: c["models"]["smollm2-135m"].update(family="Mistral 7B"), "models.smollm2-135m.family", "does not match"),
        (lambda c: c["models"]["smollm2-135m"].pop("gguf_file"), "models.smollm2-135m.gguf_file", "need"),
        (lambda c: c.update(layers=[3, 30]), "layers", "outside model"),
        (lambda c: c["datasets"]["counterfact"].update(layers=[0, 31]), "datasets.counterfact.layers", "outside model"),
        (lambda c: c["datasets"]["counterfact"].update(layers="every third"), "datasets.counterfact.layers", "not valid"),
        (lambda c: (c.update(layers=[1, 2]), c["datasets"]["counterfact"].update(layers={"start": 3, "step": 3})),
         "datasets.counterfact.layers", "nothing to edit"),
        (lambda c: (c.update(editor_scope={e: {"datasets": ["zsre"]} for e in c["editors"]}),
                    c["datasets"]["counterfact"].update(layers=[40])), "datasets.counterfact.layers", "outside model"),
        (lambda c: c.update(device="tpu"), "device", "tpu"),
    ],
)
def test_wrong_config_fails_naming_the_key(base, mutate, key, words):
    config = copy.deepcopy(base)
    mutate(config)
    with pytest.raises(ConfigError) as err:
        validate_config(config, source="config/config.yaml")
    message = str(err.value)
    assert f"field '{key}'" in message and words in message and "config/config.yaml" in message


def test_layer_grid_forms(base):
    config = validate_config(copy.deepcopy(base))
    config["layers"] = {"start": 2, "step": 7}
    assert layer_grid(config, "smollm2-135m") == [2, 9, 16, 23]
    config["layers"] = "all"
    assert layer_grid(config, "smollm2-135m") == list(range(30))
    # a dataset's own grid narrows the global one (and an editor's scope) for that dataset only
    config["datasets"]["zsre"] = {"source": "sample", "layers": {"start": 0, "step": 3}}
    config["editor_scope"] = {"rome": {"layers": [1, 2, 3, 6, 7]}}
    assert layer_grid(config, "smollm2-135m", dataset="zsre") == list(range(0, 30, 3))
    assert layer_grid(config, "smollm2-135m", editor="rome", dataset="zsre") == [3, 6]
    assert layer_grid(config, "smollm2-135m", editor="rome", dataset="counterfact") == [1, 2, 3, 6, 7]


def test_every_problem_is_listed(base):
    """Several mistakes give one error that names each key, not only the first."""
    config = copy.deepcopy(base)
    config["split"]["proxy_sise"] = 3
    config["device"] = "tpu"
    config["editors"] = ["rome", "grace"]
    with pytest.raises(ConfigError) as err:
        validate_config(config, source="config/config.yaml")
    message = str(err.value)
    assert "3 problems" in message and "config/config.yaml" in message
    for key in ("split.proxy_sise", "device", "editors.1"):
        assert f"field '{key}'" in message, message


def test_user_datasets_of_any_name_validate(base, tmp_path):
    config = copy.deepcopy(base)
    config["datasets"]["my_facts"] = {"path": str(tmp_path / "facts.json"), "format": "counterfact"}
    config["datasets"]["remote_facts"] = {"url": "https://example.org/facts.json", "sha256": "0" * 64,
                                          "format": "knowedit_recent"}
    config["models"]["smollm2-135m"]["family"] = "qwen2"
    config["models"]["smollm2-135m"]["layout"] = {"blocks": "model.layers", "proj": "mlp.down_proj"}
    validate_config(config)
