import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The text-embedding cache of this test session (and of the commands it runs) lives in a temporary folder.
os.environ["AFFORDHAND_CACHE_DIR"] = __import__("tempfile").mkdtemp(prefix="affordhand-test-cache-")

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # test helpers such as describe_server
