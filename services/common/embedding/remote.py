"""What the OpenAI-compatible provider is told: where, which model, its limits, its budget."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from services.common.embedding.budget import BudgetLimits


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """An embeddings endpoint's limits per request; the defaults are OpenAI's."""

    max_inputs: int = 2048
    max_input_tokens: int = 8192
    max_request_tokens: int = 300_000

    def __post_init__(self) -> None:
        for name in ("max_inputs", "max_input_tokens", "max_request_tokens"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_request_tokens < self.max_input_tokens:
            raise ValueError("max_request_tokens must be at least max_input_tokens")


class RemoteOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the `openai` provider needs besides its name."""

    base_url: str
    api_key: str = ""
    model: str
    dimensions: int
    azure_api_version: str = ""  # set: Azure OpenAI (api-key header, deployments route)
    azure_deployment: str = ""  # Azure's deployment name; empty: the model's name
    send_dimensions: bool | None = None  # None: only for text-embedding-3 models
    tokenizer: str = "auto"
    limits: Limits = Limits()
    timeout_s: float = 30.0
    budget: BudgetLimits = BudgetLimits()
    database_url: str = ""  # where the shared budget lives (needed when `budget` is active)

    @property
    def budget_key(self) -> str:
        """Which shared budget this provider draws on: one per endpoint and model."""
        return f"{self.base_url.rstrip('/')}|{self.azure_deployment or self.model}"


def pack(counts: Sequence[int], max_inputs: int, max_tokens: int) -> list[list[int]]:
    """Indexes of the inputs per request, in order: at most `max_inputs` and `max_tokens` each.

    An input of more than `max_tokens` goes alone (the caller splits those beforehand).
    """
    requests: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    for i, count in enumerate(counts):
        if current and (len(current) >= max_inputs or tokens + count > max_tokens):
            requests.append(current)
            current, tokens = [], 0
        current.append(i)
        tokens += count
    if current:
        requests.append(current)
    return requests
