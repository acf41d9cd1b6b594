"""Side effects: run after the response is ready, never delaying or changing it."""
