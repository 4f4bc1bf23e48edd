"""livecam: real-time face anonymizer for livestreams, videos and photos."""

__version__ = "0.1.0"
