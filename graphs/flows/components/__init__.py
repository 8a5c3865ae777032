"""Flow components: the built-in node kinds and the plugin catalog."""
