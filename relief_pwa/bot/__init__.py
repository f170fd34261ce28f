"""The Telegram bot front door (issue 7)."""
