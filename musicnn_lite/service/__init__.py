"""The tagging service, `musicnn-lite serve`: an HTTP API for music servers and a page for people,
in front of the library's Taggers (see app). `import musicnn_lite` does not import it; it needs
the `serve` extra: pip install 'musicnn_lite[serve]'."""
