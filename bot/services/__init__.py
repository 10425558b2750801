"""Domain services: plain values in, plain dataclasses out, no Telegram imports."""
