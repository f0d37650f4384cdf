import os

from hypothesis import settings

# Tests never need a screen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Property tests draw the same examples on every run, so a result can be reproduced and a
# run cannot pass or fail by luck. HYPOTHESIS_PROFILE=explore draws fresh examples instead
# (and keeps failures in .hypothesis/ to replay them).
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
