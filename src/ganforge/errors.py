"""The exception types the command line turns into a single clear line."""


class GanforgeError(Exception):
    """A problem the user can fix. Its message names the problem and the fix."""


class TrainingDiverged(GanforgeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class Interrupted(GanforgeError):
    """Ctrl-C: the run was saved and can be resumed."""
