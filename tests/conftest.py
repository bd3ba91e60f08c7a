import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The text-embedding cache of this test session (and of the commands it runs) lives in a temporary folder.
os.environ["AFFORDHAND_CACHE_DIR"] = __import__("tempfile").mkdtemp(prefix="affordhand-test-cache-")

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # test helpers such as describe_server

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def synth_set(tmp_path_factory):
    """Return make(**settings) -> the folder of a synthetic data set (train.jsonl, test.jsonl,
    test_init.jsonl) built once per test session for those SynthConfig settings, for tests that only read it;
    a test that writes puts its files in its own tmp_path."""
    from affordhand.synth.dataset import SynthConfig, build

    built = {}

    def make(**settings):
        key = tuple(sorted(settings.items()))
        if key not in built:
            built[key] = tmp_path_factory.mktemp("synth_set")
            build(SynthConfig(**settings), built[key])
        return built[key]

    return make


@pytest.fixture(scope="session")
def synth_data(synth_set):
    """The synthetic data set most tests read: 300 hands, seed 11."""
    return synth_set(n=300, seed=11)
