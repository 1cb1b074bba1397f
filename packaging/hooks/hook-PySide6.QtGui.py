"""Replaces PyInstaller's hook for PySide6.QtGui (build.spec puts this folder first): the same
plugins and translations, minus two plugins that cost far more than they give this app.

- The Qt Virtual Keyboard input method drags in QtQuick, QtQml and friends (~20 MB) for an
  on-screen keyboard meant for kiosks and embedded panels.
- The GTK 3 platform theme links GTK, Cairo, Pango and ATK; bundling half of that stack while
  the other half comes from the user's system is a known source of crashes, and without the
  plugin Qt draws its own (Fusion) style and file dialogs, which is what a portable app wants.
"""

import os

from PyInstaller.utils.hooks.qt import add_qt6_dependencies

# Substrings of plugin file names (libqgtk3.so on Linux; the keyboard is a .dll/.dylib elsewhere).
UNUSED_PLUGINS = ("qtvirtualkeyboardplugin", "qgtk3")

hiddenimports, binaries, datas = add_qt6_dependencies(__file__)
binaries = [
    entry
    for entry in binaries
    if not any(name in os.path.basename(entry[0]) for name in UNUSED_PLUGINS)
]
