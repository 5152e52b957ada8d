"""The ImageNet ResNet-18 loader (paper Sec. 3.2.5): weights from a file or the hub cache, and a
clear error — never random weights — when there are none. No network: fabricated weight files."""

import pytest
import torch
import torchvision

from alkit.engine.models.pretrained import (
    ImageNetResNet18,
    PretrainedWeightsUnavailable,
    find_weights,
    hub_cache_file,
    imagenet_resnet18_factory,
    load_imagenet_resnet18,
)


@pytest.fixture()
def empty_hub(tmp_path, monkeypatch):
    """Point torch hub's cache at an empty folder for the test (restored afterwards)."""
    hub = tmp_path / "hub"
    hub.mkdir()
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(hub))
    yield hub
    torch.hub.set_dir(old)


def fake_weights(path):
    """A randomly initialised torchvision ResNet-18 (1000 classes) saved as a state_dict."""
    torch.manual_seed(123)
    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, path)
    return state


def assert_backbone_equals(model, state):
    mine = model.state_dict()
    for k, v in state.items():
        if k.startswith("fc."):
            continue
        assert torch.equal(mine[k], v), k


def test_loads_weights_from_file(tmp_path, empty_hub):
    state = fake_weights(tmp_path / "r18.pth")
    torch.manual_seed(0)
    model = load_imagenet_resnet18(7, tmp_path / "r18.pth")
    assert_backbone_equals(model, state)
    assert model.fc.out_features == 7 and model.fc.in_features == 512
    # a fresh model would differ from the file: the weights really came from it
    torch.manual_seed(0)
    assert not torch.equal(ImageNetResNet18(7).conv1.weight, state["conv1.weight"])


def test_checkpoint_dict_and_module_prefix(tmp_path, empty_hub):
    state = fake_weights(tmp_path / "plain.pth")
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, tmp_path / "ckpt.pth")
    assert_backbone_equals(load_imagenet_resnet18(3, tmp_path / "ckpt.pth"), state)


def test_hub_cache_is_used(tmp_path, empty_hub):
    cached = hub_cache_file()
    assert str(cached).startswith(str(empty_hub))
    cached.parent.mkdir(parents=True)
    state = fake_weights(cached)
    assert find_weights() == cached
    assert_backbone_equals(load_imagenet_resnet18(10), state)


def test_missing_weights_raise(tmp_path, empty_hub):
    assert find_weights() is None
    with pytest.raises(PretrainedWeightsUnavailable, match="weights unavailable"):
        load_imagenet_resnet18(10)
    with pytest.raises(PretrainedWeightsUnavailable, match="not found"):
        load_imagenet_resnet18(10, tmp_path / "nope.pth")
    with pytest.raises(FileNotFoundError):  # the error is also a FileNotFoundError
        imagenet_resnet18_factory(10)
    torch.save({"a": torch.zeros(1)}, tmp_path / "junk.pth")
    with pytest.raises(PretrainedWeightsUnavailable, match="not a ResNet-18"):
        load_imagenet_resnet18(10, tmp_path / "junk.pth")


def test_interface_on_small_grey_images(tmp_path, empty_hub):
    state = fake_weights(tmp_path / "r18.pth")
    make = imagenet_resnet18_factory(10, tmp_path / "r18.pth", in_channels=1, input_size=32)
    a, b = make(), make()
    assert a is not b
    assert_backbone_equals(a, state)
    x = torch.randn(4, 1, 8, 8)
    logits, emb, taps = a.forward_features(x)
    assert logits.shape == (4, 10) and emb.shape == (4, a.embedding_dim)
    assert [t.shape[1] for t in taps] == a.tap_channels
    assert torch.allclose(a(x), logits)
    logits.sum().backward()
    assert a.conv1.weight.grad is not None
