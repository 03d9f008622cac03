"""Every launch recipe in accelerate_configs/ is a valid accelerate config that says what it does."""

from pathlib import Path

import pytest
import yaml
from accelerate.commands.config.config_args import load_config_from_file

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "accelerate_configs").glob("*.yaml"))
EXPECTED = {
    "cpu": ("MULTI_GPU", 2),  # MULTI_GPU is what starts N processes; train.py then picks gloo on CPU
    "single_gpu": ("NO", 1),
    "multi_gpu": ("MULTI_GPU", 2),
    "fsdp": ("FSDP", 2),
    "fsdp_cpu": ("FSDP", 2),  # FSDP2 over gloo: proven on CPU in test_launch.py
    "deepspeed_zero2": ("DEEPSPEED", 2),
    "multi_node": ("MULTI_GPU", 16),
}


def test_every_expected_config_exists():
    assert {path.stem for path in CONFIGS} == set(EXPECTED)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_loads_in_accelerate(path):
    config = load_config_from_file(str(path))
    distributed_type, processes = EXPECTED[path.stem]
    assert str(config.distributed_type).split(".")[-1] == distributed_type
    assert config.num_processes == processes
    raw = yaml.safe_load(path.read_text())
    assert raw["use_cpu"] is (path.stem in ("cpu", "fsdp_cpu"))


def test_gpu_check_script_is_valid_bash_and_says_when_there_is_no_gpu():
    import subprocess

    import torch

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    if torch.cuda.is_available():
        return  # on a GPU machine the script runs real launches: that is its job, not a unit test's
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no CUDA GPU" in done.stderr
