"""The desktop window (PySide6). A thin layer: it observes and drives the core, never the
reverse."""
