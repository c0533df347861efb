"""The exceptions train.py and visualize.py turn into one-line messages, with their exit codes.

UserError (exit 2): bad input the user can fix. RunInterrupted (exit 130): Ctrl-C, the run stopped
cleanly. NonFiniteLoss (exit 1): training diverged.
"""


class UserError(Exception):
    """Bad input the user can fix: the message says what is wrong and how to fix it."""


class RunInterrupted(Exception):
    """Ctrl-C stopped the run after a batch; the last finished epoch's checkpoint is kept."""


class NonFiniteLoss(Exception):
    """The training loss became NaN or infinite; the message names the epoch, step and lr."""
