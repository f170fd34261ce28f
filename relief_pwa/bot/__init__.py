"""The Telegram bot front door."""
