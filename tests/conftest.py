import os
import sys

# Shared test helpers (tests/_reference.py) import as plain modules.
sys.path.insert(0, os.path.dirname(__file__))
