"""train.sittings: the sittings of a run across resumes, as the card records them."""

import torch

from train.sittings import STOPPED, Sittings, command_line


def test_a_run_in_three_sittings_one_of_them_killed():
    first = Sittings(None, "python -m train x --steps 9", 0, "cpu")
    assert first.at_checkpoint(3)[-1]["last_step"] == 3
    saved = [dict(r) for r in first.at_checkpoint(4)]         # the process dies after this checkpoint
    second = Sittings(saved, "python -m train x --steps 9 --resume", 4, torch.device("cpu"))
    assert second.records[0]["to_step"] == 4 and second.records[0]["ended"] == STOPPED
    assert "last_step" not in second.records[0]
    ended = second.end(7)
    assert (ended[1]["from_step"], ended[1]["to_step"]) == (4, 7) and "ended" not in ended[1]
    assert ended[1]["device"].startswith("CPU (") and ended[1]["threads"] == torch.get_num_threads()
    assert second.at_checkpoint(8)[1]["to_step"] == 7        # a closed sitting is not touched again
    third = Sittings(ended, "python -m train x --steps 9 --resume", 7, "cpu")
    assert [(r["from_step"], r.get("to_step")) for r in third.records] == [(0, 4), (4, 7), (7, None)]
    assert third.records[1] == ended[1]


def test_a_run_resumed_only_to_evaluate_adds_no_sitting():
    done = Sittings(None, "c", 0, "cpu").end(5)
    again = Sittings(done, "c --resume", 5, "cpu", new=False)
    assert again.end(5) == done and again.at_checkpoint(5) == done


def test_the_command_is_quoted_as_typed():
    assert command_line("python -m train spatial", ["--out", "my runs/a"]) == "python -m train spatial --out 'my runs/a'"
