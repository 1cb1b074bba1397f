"""The PySide6 desktop app. Entry point: ``desktop.gui.app.run``."""
