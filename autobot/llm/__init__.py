"""LLM providers behind the port in `types.py`.

- `selection`: `select_provider(model, providers)`, `build_provider(model, providers, limits=...)`,
  `ProviderNotConfigured` / `ProviderConfigError`.
- `anthropic_provider.AnthropicProvider` (official SDK, SSE streaming by default; the SDK
  side is `anthropic_sdk`, imported in a worker thread on first use, never at start-up) and
  `openai_provider.OpenAICompatibleProvider` (httpx, `/v1/chat/completions`).
- `limits.ProviderLimits` (timeouts, retries, pool sizes), `retry` (the shared retry policy:
  nothing is retried once the request was sent and may be billed),
  `anthropic_wire` / `openai_wire` (pure translation), `anthropic_stream` (an answer
  assembled from stream events), `tool_arguments` (garbled tool calls).
"""
