"""The audio front end: a song file decoded to mono samples at the model's rate, and the log-mel
frames the encoder reads. First in the flow; imports nothing else of `models`."""
