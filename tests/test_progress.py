"""The progress bars (training epochs, sweeps, downloads) as a terminal shows them."""
import io

from tinygrad_sm.data import fetch
from tinygrad_sm.progress import ProgressBar


class Terminal(io.StringIO):
    """A stream that says it is a terminal, and what its screen shows: a carriage return moves
    back to the start of the line, and what is written then overwrites character by character."""

    def isatty(self):
        return True

    def screen(self):
        lines, line, col = [], [], 0
        for ch in self.getvalue():
            if ch == "\r":
                col = 0
            elif ch == "\n":
                lines.append("".join(line).rstrip())
                line, col = [], 0
            else:
                line[col:col + 1] = [ch]
                col += 1
        return lines + ["".join(line).rstrip()]


def test_a_shorter_frame_leaves_nothing_of_the_longer_one_behind(monkeypatch):
    term = Terminal()
    bar = ProgressBar(3, "epoch 1/1", stream=term)
    monkeypatch.setattr(bar, "line", lambda: "epoch 1/1 [#...] 1/3 0.1s eta 0.2s loss 2.3026")
    bar._last = -1.0  # (as if a tenth of a second had passed: the bar redraws)
    bar.update(1)
    assert term.screen() == ["epoch 1/1 [#...] 1/3 0.1s eta 0.2s loss 2.3026"]
    monkeypatch.setattr(bar, "line", lambda: "epoch 1/1 [####] 3/3 0.3s loss 0.5")  # (no eta: shorter)
    bar.update(2)
    assert term.screen() == ["epoch 1/1 [####] 3/3 0.3s loss 0.5"]
    bar.close()
    assert term.screen() == [""]  # cleared, the widest frame included


def test_a_message_between_frames_lands_on_a_clear_line(monkeypatch):
    term = Terminal()
    bar = ProgressBar(10, "sweep", stream=term, unit=" trials")
    bar._last = -1.0
    bar.update(1, best=0.5)
    bar.clear()
    term.write("[1/10] trial 0 ok\n")
    bar.update(1, best=0.5)
    assert term.screen()[0] == "[1/10] trial 0 ok"


def test_the_download_bar_pads_its_frames_too(monkeypatch):
    term = Terminal()
    monkeypatch.setattr(fetch.sys, "stderr", term)
    p = fetch._Progress("downloading x.gz", 26_400_000, enabled=True)
    p.update(65_500)       # ... 0% 65.5 kB/26.4 MB
    p.update(300_000)      # ... 1% 0.3 MB/26.4 MB: one character shorter
    assert term.screen() == ["downloading x.gz [-------------------------]   1% 0.3 MB/26.4 MB"]


def test_the_time_left_counts_only_this_bars_own_work(monkeypatch):
    """A resumed sweep starts at 8 of 10: one trial in 1 s leaves 1 trial, about 1 s (it said 0.1 s,
    as if all 9 had taken that second)."""
    from tinygrad_sm import progress
    clock = iter([100.0, 101.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    bar = ProgressBar(10, "sweep", stream=Terminal(), unit=" trials", initial=8)
    bar.n += 1
    assert "9/10 trials 1.0s eta 1.0s" in bar.line()
