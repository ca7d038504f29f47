"""Serving a configuration over HTTP: the OpenAI chat-completions format (``openai``) and the batching
server behind ``vlmplanner serve`` (``server``, imports torch through the pipeline). Nothing is imported here."""
