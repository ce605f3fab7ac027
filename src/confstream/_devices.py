"""Where tensors that live on a device (a GPU) are counted: a registry that adapters fill.

The core imports no adapter. An adapter registers ``update(acc, y_true, y_pred,
sample_weight)`` for the tensors of its library (``register``); ``route`` sends a batch with
such a tensor there. A library whose adapter was not imported yet is named in
``_ADAPTERS`` and imported by name on its first device tensor, as an entry point would be.

``CONFSTREAM_DEVICE_PATH=1`` (or ``forced()``) sends CPU tensors the same way, so that the
device code runs, and is tested, on machines without a GPU.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading

__all__ = ["register", "route", "forced"]

_UPDATERS: dict = {}
_ADAPTERS = {"torch": "confstream.adapters.torch"}
_force = threading.local()


def register(library: str, update) -> None:
    """Count the device tensors of ``library`` (its top module name) with ``update``."""
    _UPDATERS[library] = update


def _forcing() -> bool:
    flag = getattr(_force, "on", None)
    return os.environ.get("CONFSTREAM_DEVICE_PATH") == "1" if flag is None else flag


@contextlib.contextmanager
def forced(on: bool = True):
    """Within this block (this thread), CPU tensors take the device path too."""
    before = getattr(_force, "on", None)
    _force.on = on
    try:
        yield
    finally:
        _force.on = before


def _library(x) -> str | None:
    module = type(x).__module__ or ""
    top = module.split(".", 1)[0]
    if top not in _ADAPTERS and top not in _UPDATERS:
        return None
    device = getattr(x, "device", None)
    if device is None:
        return None
    if getattr(device, "type", "cpu") != "cpu" or _forcing():
        return top
    return None


def route(acc, y_true, y_pred, sample_weight) -> bool:
    """Send the batch to its library's device path if any of it lives on a device (True),
    else leave it to the host path (False)."""
    for x in (y_true, y_pred, sample_weight):
        lib = None if x is None else _library(x)
        if lib is not None:
            break
    else:
        return False
    if lib not in _UPDATERS:
        importlib.import_module(_ADAPTERS[lib])  # it registers itself
    _UPDATERS[lib](acc, y_true, y_pred, sample_weight)
    return True
