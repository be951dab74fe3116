"""Large TorchScript archives, loaded without freezing a window.

torch.jit.load reads every weight in one C++ call that holds Python's lock, during which no other thread of the process (a window's, say) runs. So a large archive is opened in
a child process, which writes the weights' raw bytes to one file and the archive without them to
another. This process then loads the small archive, and reads the weights with plain reads, which
release the lock, and puts them back (tied weights stay tied).

Run as `python -m studio.core.formats.torchscript_apart ARCHIVE FOLDER` by `load_apart`; it exits 3 for an
archive whose weights are not plain tensors (quantized, sparse), which then loads the usual way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

NOT_PLAIN = 3


def load_apart(path: Path) -> torch.jit.ScriptModule | None:
    """The archive's module, or None when the child could not split it (the caller loads it directly)."""
    shm = Path("/dev/shm")  # in memory where there is room: the weights pass through it once
    room = shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * path.stat().st_size
    with tempfile.TemporaryDirectory(prefix="studio-torchscript-", dir=shm if room else None) as tmp:
        folder = Path(tmp)
        try:
            done = subprocess.run([sys.executable, "-m", __name__, str(path), tmp], capture_output=True)
        except OSError:
            return None
        if done.returncode:
            return None
        module = torch.jit.load(str(folder / "stripped.pt"), map_location="cpu")
        values: dict[str, torch.Tensor] = {}
        with (folder / "weights.bin").open("rb") as f:
            for entry in json.loads((folder / "index.json").read_text()):
                if "same_as" in entry:
                    value = values[entry["same_as"]]
                else:
                    raw = torch.empty(entry["nbytes"], dtype=torch.uint8)
                    _read_into(f, memoryview(raw.numpy()))
                    value = raw.view(getattr(torch, entry["dtype"])).reshape(entry["shape"]).detach()
                    value.requires_grad_(entry["requires_grad"])
                values[entry["name"]] = value
                owner, leaf = _owner(module, entry["name"])
                setattr(owner, leaf, value)
        return module


def _read_into(f, view: memoryview) -> None:
    done = 0
    while done < len(view):
        n = f.readinto(view[done:])
        if not n:
            raise OSError("the weights file ended early")
        done += n


def _owner(module, name: str):
    *path, leaf = name.split(".")
    for part in path:
        module = getattr(module, part)
    return module, leaf


def split(archive: str, folder: str) -> int:
    """In the child: write FOLDER/weights.bin, index.json and stripped.pt (the archive, weights emptied)."""
    module = torch.jit.load(archive, map_location="cpu")
    tensors = module.state_dict(keep_vars=True)
    if not all(type(t) in (torch.Tensor, torch.nn.Parameter) and t.layout == torch.strided and not t.is_quantized for t in tensors.values()):
        return NOT_PLAIN
    index, first = [], {}
    with open(Path(folder) / "weights.bin", "wb") as f:
        for name, t in tensors.items():
            key = (t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()))
            if key in first and t.numel():
                index.append({"name": name, "same_as": first[key]})
                continue
            first[key] = name
            data = t.detach().contiguous().reshape(-1).view(torch.uint8)
            f.write(memoryview(data.numpy()))
            index.append({"name": name, "dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape), "nbytes": data.numel(),
                          "requires_grad": t.requires_grad})
    for name, t in tensors.items():  # a loaded archive's weights are plain tensors, parameters or not
        owner, leaf = _owner(module, name)
        setattr(owner, leaf, torch.empty(0, dtype=t.dtype))
    torch.jit.save(module, str(Path(folder) / "stripped.pt"))
    (Path(folder) / "index.json").write_text(json.dumps(index))
    return 0


if __name__ == "__main__":
    sys.exit(split(sys.argv[1], sys.argv[2]))
