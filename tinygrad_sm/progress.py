"""A small text progress bar for training epochs and downloads (no dependency).

On a terminal it redraws one line in place, at most ten times a second and clears it at the end;
into a file or a pipe (CI logs) it writes nothing, so logs keep only the per-epoch summaries.
"""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


def redraw(stream: TextIO, text: str, drawn: int) -> int:
    """Write `text` over the line's last frame, `drawn` characters wide: padded with spaces where
    it is shorter, since a carriage return alone would leave the old frame's tail on the screen.
    Returns the width to pass next time."""
    stream.write("\r" + text + " " * (drawn - len(text)))
    stream.flush()
    return max(drawn, len(text))


class ProgressBar:
    """bar = ProgressBar(total, "epoch 1/10"); bar.update(1, loss=0.5); ...; bar.close()

    initial: the count already done before this bar started (a resumed sweep): shown, but not
    taken as this bar's work when it estimates the time left."""

    def __init__(self, total: int, desc: str = "", stream: Optional[TextIO] = None, enabled: bool = True,
                 width: int = 24, unit: str = "", initial: int = 0) -> None:
        self.total, self.desc, self.width, self.unit = max(int(total), 0), desc, width, unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.live = enabled and getattr(self.stream, "isatty", lambda: False)()
        self.n = self.initial = initial
        self.postfix = ""
        self.drawn = 0  # the widest frame on the line so far
        self.start = self._last = time.perf_counter()

    def update(self, n: int = 1, **postfix: float) -> None:
        self.n += n
        if postfix:
            self.postfix = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                     for k, v in postfix.items())
        now = time.perf_counter()
        if self.live and (now - self._last >= 0.1 or self.n >= self.total):
            self._last = now
            self.drawn = redraw(self.stream, self.line(), self.drawn)

    def line(self) -> str:
        frac = min(self.n / self.total, 1.0) if self.total else 1.0
        filled = int(round(frac * self.width))
        elapsed = time.perf_counter() - self.start
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0.0
        parts = [self.desc, f"[{'#' * filled}{'.' * (self.width - filled)}]", f"{self.n}/{self.total}{self.unit}",
                 f"{elapsed:.1f}s"]
        if self.n < self.total and rate > 0:
            parts.append(f"eta {(self.total - self.n) / rate:.1f}s")
        if self.postfix:
            parts.append(self.postfix)
        return " ".join(p for p in parts if p)

    def clear(self) -> None:
        """Blank the bar's line (to print a message there); the next update draws it again."""
        if self.live and self.drawn:
            self.stream.write("\r" + " " * self.drawn + "\r")
            self.stream.flush()
            self.drawn = 0

    def close(self, keep: bool = False) -> None:
        """Clear the bar (or, with keep=True, leave its last state on its own line)."""
        if not self.live:
            return
        if keep:
            redraw(self.stream, self.line(), self.drawn)
            self.stream.write("\n")
            self.stream.flush()
        else:
            self.clear()
