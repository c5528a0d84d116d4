"""The stopping rule shared by the trainers that climb a validation score (translation's dev
BLEU, captioning's validation BLEU-4 and attention correctness): a run has reached its plateau
when the best of the last ``window`` evaluations beats the best before them by less than
``min_gain``. Taking the best on each side, not the last value, keeps one noisy evaluation
from stopping a run that is still rising (or from keeping alive one that has stopped)."""

from __future__ import annotations


def plateaued(scores: list[float], window: int = 3, min_gain: float = 0.3) -> bool:
    """True when max(scores[-window:]) - max(scores[:-window]) < min_gain; never before
    there are more than ``window`` evaluations."""
    if len(scores) <= window:
        return False
    return max(scores[-window:]) - max(scores[:-window]) < min_gain
