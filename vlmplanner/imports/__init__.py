"""Importing other harnesses' results: lmms-eval (``lmms_eval``) and VLMEvalKit (``vlmevalkit``) read
into an ImportReport (``records``), stored as ``imported`` results (``store``). Nothing is imported here."""
