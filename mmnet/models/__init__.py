"""Models: `create(name, **kwargs)` returns a plain `nn.Module` whose forward gives 2-channel logits."""
from mmnet.models import deeplab, mmnet  # noqa: F401  (registers the models)
from mmnet.models.registry import create, list_models, register

__all__ = ["create", "list_models", "register"]
