"""The long-running commands that build the bot's tree (`autobot.app`):
`autobot gateway` (`gateway`) and `autobot agent` (`agent`). They sit above
`autobot.app`, which the agent and gateway packages never import."""
