"""Retrieval on a generate route (``routes[].retrieval`` in ``edgefleet.yaml``): which retriever
deployment to ask, for how many passages, and how to put them into the prompt.

Templates use ``str.format`` placeholders. ``template`` may name ``{passages}`` (required) and
``{question}`` (required when ``placement`` is ``user``, since the template then replaces the last
user message); ``passage_template`` may name ``{n}`` (1-based number, for citing), ``{title}``,
``{text}`` (required), ``{doc}``, ``{chunk}`` and ``{score}``. Unknown or malformed placeholders are
errors naming the key. A leaf module of the kernel (pydantic only).
"""

from __future__ import annotations

import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_RETRIEVAL_TOP_K = 20
TEMPLATE_FIELDS = ("passages", "question")
PASSAGE_FIELDS = ("n", "title", "text", "doc", "chunk", "score")
USER_TEMPLATE = (
    "Answer the question using only the passages below; cite the passages you use as [n]. If they do "
    "not contain the answer, say so.\n\nPassages:\n{passages}\n\nQuestion: {question}"
)
SYSTEM_TEMPLATE = (
    "Answer using only the passages below; cite the passages you use as [n]. If they do not contain "
    "the answer, say so.\n\nPassages:\n{passages}"
)


def template_fields(template: str) -> list[str]:
    """The placeholder names of a ``str.format`` template, in order. ValueError when it is malformed
    (an unmatched brace) or uses positional or attribute/index placeholders."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"malformed template ({exc}); write a literal brace as {{{{ or }}}}") from exc
    names: list[str] = []
    for _, name, _, _ in parsed:
        if name is None:
            continue
        if not name.isidentifier():
            raise ValueError(f"placeholder {{{name}}} is not allowed: use named placeholders only")
        names.append(name)
    return names


def _check(template: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> str:
    names = template_fields(template)
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        listed = ", ".join("{" + n + "}" for n in allowed)
        raise ValueError(
            f"unknown placeholder(s) {', '.join('{' + n + '}' for n in unknown)}; allowed: {listed}"
        )
    missing = [n for n in required if n not in names]
    if missing:
        raise ValueError(f"the template must contain {', '.join('{' + n + '}' for n in missing)}")
    return template


class RetrievalConfig(BaseModel):
    """How a generate route retrieves passages and puts them into the prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deployment: str = Field(description="retriever deployment (a collection, task retrieve)")
    top_k: int = Field(5, ge=1, le=MAX_RETRIEVAL_TOP_K, description="passages asked for")
    placement: Literal["user", "system"] = Field(
        "user",
        description="`user`: the template replaces the last user message (it must hold {question}); "
        "`system`: the filled template is added to the system message (a new one first when there is none)",
    )
    template: str | None = Field(
        None, description="prompt text with {passages} (and {question}); default: by placement"
    )
    passage_template: str = Field("[{n}] {title}: {text}", description="how one passage is written")
    max_passage_chars: int = Field(1500, ge=50, description="a longer passage is cut (at a word boundary)")
    max_context_chars: int = Field(
        8000,
        ge=50,
        description="passages beyond this many characters in all are left out (the first is kept)",
    )
    timeout_ms: float = Field(
        1000.0, gt=0, description="longest wait for the retriever (within the request's deadline)"
    )
    answer: Literal["generative", "extractive"] = Field(
        "generative",
        description="`extractive`: edge LLMs get a plain few-shot prompt over the sentence(s) of the passages "
        'that best match the question, decoding constrained to spans of them (README "Extractive answering"); '
        "the hosted fallback still gets the template",
    )
    fewshot: str = Field(
        "collection",
        description="extractive few-shot examples: `collection` (the latest set stored beside the retriever's "
        "collection by `edgefleet rag fewshot`), `none`, or a file path (relative to the policy file)",
    )
    sentences: int = Field(1, ge=1, le=5, description="extractive: sentences the answer may come from")
    passage_weight: float = Field(
        8.0,
        ge=0,
        description="extractive: a sentence's overlap score adds this x its passage's retrieval score "
        "(8: best on SQuAD's TUNE split)",
    )
    max_answer_tokens: int = Field(32, ge=1, le=256, description="extractive: longest answer in tokens")
    send_to_hosted: bool = Field(
        True,
        description="the hosted fallback gets the same passages (false: the original conversation, e.g. "
        "when the collection must not leave the site)",
    )

    @field_validator("passage_template")
    @classmethod
    def _passage_placeholders(cls, value: str) -> str:
        return _check(value, PASSAGE_FIELDS, ("text",))

    @field_validator("template")
    @classmethod
    def _template_placeholders(cls, value: str | None) -> str | None:
        return None if value is None else _check(value, TEMPLATE_FIELDS, ("passages",))

    @model_validator(mode="after")
    def _question_when_user(self) -> RetrievalConfig:
        if (
            self.placement == "user"
            and self.template is not None
            and "question" not in template_fields(self.template)
        ):
            raise ValueError(
                "template: with placement 'user' the template replaces the user's message, so it must "
                "contain {question}"
            )
        return self

    def prompt_template(self) -> str:
        """The template in force (the placement's default when none is set)."""
        if self.template is not None:
            return self.template
        return USER_TEMPLATE if self.placement == "user" else SYSTEM_TEMPLATE
