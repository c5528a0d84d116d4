"""One log line per model load and per forward pass over a new input, so a run can be
checked from the server's log: models load once per process (bench/sessions.py counts
``LOAD`` lines) and a second click while a forward pass runs does not start it again
(tests/e2e counts ``COMPUTE`` lines).

Put ``@logged_load`` / ``@logged_compute`` under ``@st.cache_resource``: the line is
written only when the cache misses, that is when the work really runs.
"""

from __future__ import annotations

import functools
import logging
import sys

LOAD = "workbench model load:"
COMPUTE = "workbench compute:"
LOG = logging.getLogger("workbench.loads")
if not LOG.handlers:  # Streamlit configures only its own loggers
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    LOG.addHandler(_handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False


def _logged(prefix: str):
    def decorate(fn):
        """Log ``prefix module.name(args)`` each time ``fn`` runs."""
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            shown = ", ".join([repr(a)[:200] for a in args] + [f"{k}={v!r}"[:200] for k, v in kwargs.items()])
            LOG.info("%s %s.%s(%s)", prefix, fn.__module__, fn.__qualname__, shown)
            return fn(*args, **kwargs)
        return wrapper
    return decorate


logged_load = _logged(LOAD)
logged_compute = _logged(COMPUTE)
