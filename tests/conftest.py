import os
import sys

# Shared test helpers (tests/_reference.py) import as plain modules.
sys.path.insert(0, os.path.dirname(__file__))

# pytest-xdist workers (`-n auto` in pyproject.toml) share numba's on-disk cache: confstream's
# jit policy (src/confstream/_kernels/_jit.py) saves compiled signatures under a file lock, so
# a signature one worker compiled is loaded, not compiled again, by the others.
