import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_built_wheel_carries_the_sample_resources(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ["lenet-5.safetensors", "lenet-300-100.safetensors", "digits-cnn.safetensors", "mnist5k.npz", "digits.npz"]:
        assert f"studio/resources/samples/{f}" in names
    assert "studio/core/formats/load.py" in names
