"""`autobot status`: one screen (or one JSON object) saying what a bot is and how it runs.

`facts` is the immutable picture and its rendering (pure), `probe` asks the
running gateway's HTTP endpoint, `local` reads the bot's files (cron store,
sessions, logs), `command` is the command line. Nothing here imports the
gateway or an LLM SDK: status stays fast.
"""
