"""A small training progress bar: steps done, iterations/s, loss and ETA.

On a terminal the bar redraws one line in place; when the stream is not a
terminal (a log file, a pipe, CI) it prints a plain line at every tenth of the
run instead, so logs stay readable. Plain Python: it never imports the kernels.
"""
import sys
import time


def format_duration(seconds):
    """``H:MM:SS`` or ``M:SS`` for a number of seconds (``?`` when unknown)."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """Progress of ``total`` steps written to ``stream`` (default sys.stdout).

    Parameters
    ----------
    total : int
        Number of steps of the run.
    stream : text file, optional
        Where to write; its ``isatty()`` chooses the redrawn bar or plain lines.
    tty : bool, optional
        Force the bar (True) or plain lines (False) whatever the stream is.
    label : str
        Printed before the counts, e.g. ``"train"``.
    start : int
        Steps already done before this bar (a resumed run): counted, but not in the rate.
    """

    width = 24          # characters of the bar itself
    min_redraw = 0.1    # seconds between two redraws on a terminal
    plain_parts = 10    # plain lines per run when not on a terminal

    def __init__(self, total, stream=None, tty=None, label="step", start=0):
        self.total = max(int(total), 1)
        self.stream = sys.stdout if stream is None else stream
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.tty = tty
        self.label = label
        self.n = self.first = min(int(start), self.total)
        self.loss = None
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._drawn = False
        self._closed = False

    @property
    def rate(self):
        """Steps per second since the bar started."""
        elapsed = time.perf_counter() - self.start
        return (self.n - self.first) / elapsed if elapsed > 0 else 0.0

    def _text(self):
        rate = self.rate
        eta = (self.total - self.n) / rate if rate > 0 else None
        loss = "" if self.loss is None else f"  loss {float(self.loss):.4f}"
        counts = f"{self.n}/{self.total}"
        if self.tty:
            filled = int(self.width * self.n / self.total)
            bar = "#" * filled + "." * (self.width - filled)
            return f"{self.label} {counts} [{bar}] {rate:.1f} it/s{loss}  ETA {format_duration(eta)}"
        pct = 100 * self.n // self.total
        return f"{self.label} {counts} ({pct}%)  {rate:.1f} it/s{loss}  ETA {format_duration(eta)}"

    def update(self, n=1, loss=None):
        """Count n more steps; ``loss`` is the latest loss to show."""
        prev = self.n
        self.n = min(self.n + n, self.total)
        if loss is not None:
            self.loss = loss
        if self.tty:
            now = time.perf_counter()
            if now - self._last_draw >= self.min_redraw or self.n == self.total:
                self._last_draw = now
                self._draw()
        else:
            # a plain line each time the count crosses a tenth of the run
            part = self.total / self.plain_parts
            if int(self.n / part) > int(prev / part) or self.n == self.total:
                self.stream.write(self._text() + "\n")
                self.stream.flush()

    def _draw(self):
        self.stream.write("\r\033[K" + self._text())
        self.stream.flush()
        self._drawn = True

    def write(self, line):
        """Print a line of text above the bar (the bar is redrawn after it).

        Once every step is done the bar is finished: it is closed where it is
        and the line goes below it, so the bar is not drawn again under the
        line (e.g. an end-of-run accuracy line).
        """
        if self.n >= self.total:
            self.close()
        if self.tty and self._drawn and not self._closed:
            self.stream.write("\r\033[K" + line + "\n")
            self._draw()
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self):
        """End the bar's line; later output starts on a fresh line."""
        if self._closed:
            return
        self._closed = True
        if self.tty and self._drawn:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
