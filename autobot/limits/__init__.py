"""Rate limits shared by the agent (LLM calls) and the tool registry (tool
calls): token buckets per session (`buckets`)."""
