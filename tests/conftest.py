"""Suite-wide settings: the Hypothesis profiles and shared paths."""
import os

from hypothesis import HealthCheck, settings

# CI: no deadline (a loaded 2-core machine is not a failure), derandomized so
# every run tries the same examples, 100 examples per property unless a test
# states its own count.
settings.register_profile(
    "ci", deadline=None, derandomize=True, max_examples=100, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

