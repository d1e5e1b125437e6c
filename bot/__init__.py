"""The Telegram conversation: handlers, keyboards, commands."""
