"""The scheduler's live state as JSON and a websocket feed."""
