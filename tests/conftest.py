import os
import sys

import pytest
from hypothesis import settings

# Tests never need a screen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Property tests draw the same examples on every run, so a result can be reproduced and a
# run cannot pass or fail by luck. HYPOTHESIS_PROFILE=explore draws fresh examples instead
# (and keeps failures in .hypothesis/ to replay them).
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(autouse=True)
def _collect_garbage_between_tests():
    """Once the window's garbage collector is installed (``create_app``: automatic collection
    off, collections from the event loop), also collect what is due after each test, a safe
    point: a test may create plenty of garbage without turning the event loop."""
    yield
    app = sys.modules.get("explorer.ui.app")
    if app is not None:
        app.collect_garbage()
