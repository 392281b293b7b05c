"""projected-token-webhook: inject audience-bound projected service-account tokens into pods."""

import os as _os
import sys as _sys

# The one place the version is written: pyproject.toml, the Makefile, the image and the tests read it here.
__version__ = "0.1.0"

# `make venv` compiles the hot modules with mypyc into the virtualenv's site-packages/webhook-compiled
# (hack/compile.py), never beside these sources: searched first where present, absent for any other
# interpreter using this tree, which then imports the pure sources.
for _entry in _sys.path:
    _compiled = _os.path.join(_entry or ".", "webhook-compiled")
    if _os.path.isdir(_compiled):
        __path__.insert(0, _compiled)
        break
