"""Test-only: let PyPI's CUDA torchvision import beside the CPU torch in the vLLM CI venv.

PyPI's torchvision wheel is a CUDA build; its C++ ops library needs libtorch_cuda, which the CPU torch lacks, so
it does not load. torchvision tolerates that for every op except two: at import it registers fake kernels for
``torchvision::nms`` and ``torchvision::qnms`` unconditionally, and that fails with "operator torchvision::nms does
not exist". Declaring those two schemas (no kernels) before torchvision's first import lets it import; nothing we
run calls them (Qwen2.5-VL's processors use torchvision's transforms only). .ci/run installs it into that venv's
site-packages with a .pth line, and only when torchvision fails to import there; never part of lmms-robust.
"""

import importlib.abc
import sys


class _DeclareTorchvisionOps(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "torchvision":
            return None
        sys.meta_path.remove(self)
        import torch

        for op in ("nms", "qnms"):
            torch.library.define(f"torchvision::{op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        return None  # the normal finders import torchvision itself


if not any(isinstance(finder, _DeclareTorchvisionOps) for finder in sys.meta_path):
    sys.meta_path.insert(0, _DeclareTorchvisionOps())
