"""WhatsApp channel: a client of autobot's WhatsApp bridge (protocol version 1)."""
