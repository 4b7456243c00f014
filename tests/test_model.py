import pickle

import pytest
import torch

from nst.engine.model import (
    VGGFeatures,
    WeightsError,
    layer_names,
    layer_table,
    load_model,
    resolve_weights,
)


def test_layer_names_follow_the_literature_and_torchvision_indices():
    names = layer_names("vgg19")
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[-1] == "pool5" and "conv5_4" in names and len(names) == 37
    vgg16 = {t.name: t.index for t in layer_table("vgg16")}
    assert vgg16["conv4_2"] == 19 and vgg16["conv5_1"] == 24 and "conv5_4" not in vgg16
    vgg19 = {t.name: t.index for t in layer_table("vgg19")}
    assert vgg19["conv4_2"] == 21 and vgg19["conv5_1"] == 28


def test_truncated_model_stops_at_the_deepest_layer_used():
    m = VGGFeatures("vgg19", last_layer="conv4_2")
    assert m.layer_names[-1] == "conv4_2" and len(m.features) == 22
    with pytest.raises(ValueError):
        m(torch.rand(1, 3, 32, 32), ["conv5_1"])


def test_random_model_is_frozen_and_returns_named_features(random_model):
    assert not any(p.requires_grad for p in random_model.parameters())
    assert not random_model.training and random_model.is_random
    x = torch.rand(1, 3, 64, 48)
    out = random_model(x, ["conv1_1", "pool2", "conv4_2"])
    assert out["conv1_1"].shape == (1, 64, 64, 48)
    assert out["pool2"].shape == (1, 128, 16, 12)
    assert out["conv4_2"].shape == (1, 512, 8, 6)
    assert all(torch.isfinite(v).all() for v in out.values())


def test_pooling_is_chosen_per_call_without_changing_the_model(random_model):
    x = torch.rand(1, 3, 32, 32)
    mx = random_model(x, ["conv2_1"], pooling="max")["conv2_1"]
    av = random_model(x, ["conv2_1"], pooling="avg")["conv2_1"]
    assert not torch.allclose(mx, av)
    assert torch.equal(mx, random_model(x, ["conv2_1"], pooling="max")["conv2_1"])


def test_normalization_is_inside_the_model(random_model):
    x = torch.rand(1, 3, 32, 32)
    a = random_model(x, ["conv1_1"])["conv1_1"]
    b = random_model(random_model.normalize(x), ["conv1_1"], normalized=True)["conv1_1"]
    assert torch.allclose(a, b)


def _features_state_dict(arch, full_prefix):
    m = VGGFeatures(arch)
    torch.nn.init.constant_(m.features[0].weight, 0.5)
    sd = m.features.state_dict()
    return {("features." if full_prefix else "") + k: v for k, v in sd.items()}


@pytest.mark.parametrize("full", [True, False])
def test_state_dicts_full_or_features_only_load(tmp_path, full):
    sd = _features_state_dict("vgg16", full)
    if full:
        sd["classifier.0.weight"] = torch.zeros(2, 2)
    path = tmp_path / "w.pth"
    torch.save(sd, path)
    m = load_model("vgg16", str(path))
    assert torch.all(m.features[0].weight == 0.5)
    assert m.weights_source == f"file {path}"


def test_state_dict_of_the_wrong_architecture_is_refused(tmp_path):
    path = tmp_path / "w.pth"
    torch.save(_features_state_dict("vgg16", True), path)
    with pytest.raises(WeightsError, match="does not match vgg19"):
        load_model("vgg19", str(path))


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_pickled_command_in_weights_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = _Evil()
    evil.marker = marker
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"features.0.weight": evil}, f)
    with pytest.raises(WeightsError, match="refused"):
        load_model("vgg16", str(path))
    assert not marker.exists()


def test_offline_without_cache_names_file_cache_and_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr("nst.engine.model._download", _fail_download)
    with pytest.raises(WeightsError) as err:
        resolve_weights("vgg19", "imagenet")
    msg = str(err.value)
    assert "vgg19-dcbb9e9d.pth" in msg and str(tmp_path) in msg and "NST_WEIGHTS" in msg


def _fail_download(*_args, **_kw):
    raise OSError("network unreachable")


def test_cached_checkpoint_is_used_before_any_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr("nst.engine.model._download", _fail_download)
    ckpt = tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth"
    ckpt.parent.mkdir(parents=True)
    torch.save(_features_state_dict("vgg16", True), ckpt)
    sd, source = resolve_weights("vgg16", "imagenet")
    assert "cache" in source and torch.all(sd["0.weight"] == 0.5)


def test_env_chooses_model_and_weights(monkeypatch):
    monkeypatch.setenv("NST_MODEL", "vgg16")
    monkeypatch.setenv("NST_WEIGHTS", "random")
    m = load_model()
    assert m.arch == "vgg16" and m.is_random
