"""Runnable studies; each writes its results into ``runs/<name>/`` (or ``--out``)."""
