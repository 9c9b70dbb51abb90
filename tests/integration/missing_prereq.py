"""Stands in for a test meson cannot build here (a disabler dropped it), so that it never vanishes silently:
SKIP (exit 77) with the reason by hand, FAIL under DIAGINT_REQUIRE_GUEST=1 (CI). Usage: missing_prereq.py REASON"""
import os
import sys

why = " ".join(sys.argv[1:]) or "a prerequisite is missing"
if os.environ.get("DIAGINT_REQUIRE_GUEST") == "1":
    print("FAIL: required here (DIAGINT_REQUIRE_GUEST=1) but: " + why, flush=True)
    sys.exit(1)
print("SKIP: " + why, flush=True)
sys.exit(77)
