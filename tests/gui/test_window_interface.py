"""The window's public interface for panels: docks, actions, menus, toolbar items and guards; and no
panel reaching into the window's private members."""

import ast
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel

import studio.gui

WINDOW_NAMES = {"window", "w"}  # what the panels call the MainWindow they are given


def menu_texts(menu) -> list[str]:
    return ["—" if a.isSeparator() else a.text() for a in menu.actions()]


def test_the_window_lists_every_panel_and_its_menus_in_order(make_window):
    window = make_window()
    view = menu_texts(window.view_menu)
    assert view[view.index("—"):] == ["—", "Model Panel", "Layer Panel", "Versions Panel", "Compress Panel", "Run Panel", "—",
                                      "&Reset Layout"]
    assert [a.text() for a in window.menuBar().actions()] == ["&File", "&Edit", "&View", "&Compress", "&Help"]
    assert menu_texts(window.file_menu) == ["&New", "&Open…", "Open &Folder…", "Open &Recent", "Open &Sample", "—", "Open &Project…",
                                            "&Save Project…", "Save &Recipe…", "Export Re&port…", "—", "&Quit"]


def test_a_panel_joins_through_the_public_interface(make_window):
    window = make_window()
    asked = []
    dock = window.add_dock("Notes", "notes_dock", QLabel("notes"), Qt.DockWidgetArea.RightDockWidgetArea, tab_with=window.layer_dock, size=300)
    action = window.make_action("&Note", "Write a note", lambda: asked.append("note"))
    window.add_file_actions([action])
    menu = window.add_menu("&Notes")
    menu.addAction(action)
    window.add_tool_items([None, action])
    window.add_guard(lambda doing: asked.append(doing) or False)

    QApplication.processEvents()  # (a shown window tabifies once its layout is redone)
    assert dock.objectName() == "notes_dock" and window.tabifiedDockWidgets(window.layer_dock) == [window.compression.compress_dock, dock]
    assert "Notes Panel" in menu_texts(window.view_menu) and menu_texts(window.view_menu)[-1] == "&Reset Layout"
    assert menu_texts(window.file_menu)[-5:] == ["Export Re&port…", "—", "&Note", "—", "&Quit"]  # a group of its own
    assert [a.text() for a in window.menuBar().actions()][-2:] == ["&Notes", "&Help"]
    assert window.toolbar.actions()[-1] is action and action.statusTip() == "Write a note"
    window.reset_layout_action.trigger()
    assert not dock.isHidden()
    assert not window.may_replace_work("quitting") and asked == ["quitting"]
    window.new_action.trigger()  # a guard said no: nothing happens
    assert asked == ["quitting", "closing the model"]


def test_no_panel_reaches_into_the_window():
    """Panels use the window's public interface only (add_dock, make_action, …), never its `_members`."""
    root = Path(studio.gui.__file__).parent
    private = []
    for path in root.rglob("*.py"):
        if path.name == "main_window.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else None
                if name in WINDOW_NAMES:
                    private.append(f"{path.relative_to(root)}:{node.lineno} .{node.attr}")
    assert not private


def test_a_panel_adds_a_banner_above_the_middle_and_sizes_its_dock(make_window, qtbot):
    from PySide6.QtCore import QPoint

    window = make_window()
    banner = QLabel("Something to read before going on")
    window.add_banner(banner)
    qtbot.waitUntil(banner.isVisible)
    assert banner.mapTo(window, QPoint(0, 0)).y() < window.tabs.mapTo(window, QPoint(0, 0)).y()
    dock = window.add_dock("Notes", "notes_dock", QLabel("notes"), Qt.DockWidgetArea.BottomDockWidgetArea)
    qtbot.waitUntil(dock.isVisible)
    window.resize_dock(dock, 120)
    qtbot.waitUntil(lambda: abs(dock.height() - 120) <= 2)
