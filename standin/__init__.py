"""The offline STAND-IN for the hosted model: a local OpenAI-compatible server backed by local
models, labelled a stand-in in every response, and the hosted tier that starts it where the
policy asks for one."""
