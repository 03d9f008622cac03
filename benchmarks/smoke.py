"""Assets for ``throughput.py --smoke``: a tiny BERT, its tokenizer and small data files, built here.

The smoke run checks that every configuration of the benchmark runs end to end in seconds, on any
machine and without ``../shared``; its numbers mean nothing. The assets are the tests' own
(``trainer_tasks.testing``).
"""

from __future__ import annotations

import os

from trainer_tasks import testing


def build(folder: str) -> dict:
    """Model folder and data files for the smoke run, in the layout of ``--shared``."""
    os.makedirs(folder, exist_ok=True)
    return {
        "model": testing.build_tiny_model(os.path.join(folder, "tiny-bert"), "bert"),
        "news": [testing.write_news(os.path.join(folder, "news.csv"), 600)],
        "toxic": [testing.write_toxic(os.path.join(folder, "toxic.csv"), 600)],
    }
