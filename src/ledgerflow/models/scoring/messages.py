"""Messages shared by the scoring server and ``ledgerflow models predict`` (no server imports:
offline scoring must work without the server extra)."""

from __future__ import annotations


def model_error_message(error: BaseException) -> str:
    """What a user sees when the model itself raised: MLflow's advice plus the exception's
    class and message (one line; never a traceback, which could name internal paths)."""
    text = " ".join(str(error).split()) or "(no message)"
    return (
        "Encountered an unexpected error while evaluating the model. Verify that the serialized "
        f"input Dataframe is compatible with the model for inference. Error: {type(error).__name__}: {text}"
    )
