"""Shared by the LiteRT backends (MTCNN, MobileFaceNet-192, BlazeFace): LiteRT's start-up line.

LiteRT's C++ logger writes ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` to file
descriptor 2 the first time a process applies the XNNPACK delegate; a CLI command must print one
line on error, so every backend creates its interpreters inside :func:`quiet_banner`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

_BANNER = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
_banner_done = False
_banner_lock = threading.Lock()


@contextlib.contextmanager
def quiet_banner() -> Iterator[None]:
    """Keep LiteRT's one-time ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` off stderr.

    LiteRT's C++ logger writes it to file descriptor 2 the first time a process applies the XNNPACK
    delegate, and offers no Python switch; a CLI command must print one line on error. The first
    time only, fd 2 is pointed at an anonymous temporary file while interpreters are allocated;
    afterwards everything written there except that line is passed on to stderr.
    """
    global _banner_done
    with _banner_lock:
        if _banner_done:
            yield
            return
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                _banner_done = True
                tmp.seek(0)
                rest = [
                    line
                    for line in tmp.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if line.strip() != _BANNER
                ]
                if rest:
                    os.write(2, "".join(rest).encode())
