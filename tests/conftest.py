import os
import sys

# Shared test helpers (tests/_reference.py) import as plain modules.
sys.path.insert(0, os.path.dirname(__file__))

# pytest-xdist workers (`-n auto` in pyproject.toml): one numba cache per worker. numba's
# on-disk cache numbers the compiled versions of a function as it saves them, so two
# processes compiling different signatures of one kernel at the same moment can take the
# same number, and one would later load the other's machine code. Each worker (and the
# child processes its tests start, which inherit the variable) keeps a cache of its own.
_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker and "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".numba_cache", _worker)
    if "numba" in sys.modules:  # a plugin imported it first: read the variable again
        from numba.core import config

        config.reload_config()
