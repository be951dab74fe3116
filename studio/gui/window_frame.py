"""The frame of the studio's window, and all that panels join it through: docks (each with its
show/hide toggle in the View menu and its size after Reset Layout), actions, menus, toolbar items,
banners above the middle, and guards asked before the work open is replaced or the window closes.
MainWindow builds on it; the other panels (studio.gui.compress.compression) use nothing else of the
window's."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QVBoxLayout, QWidget

SIDE_PANEL_MIN_WIDTH = 160  # a side panel's narrowest: what a small model's names and legends need


class WindowFrame(QMainWindow):
    aboutToClose = Signal()  # the window closes (after any question): let go of files and threads

    def __init__(self):
        super().__init__()
        self._dock_sizes: list[tuple[QDockWidget, int, Qt.Orientation]] = []  # for View → Reset Layout
        self._default_state: bytes | None = None  # the first layout, for View → Reset Layout
        self.layout_restored = False  # the layout of the last session was put back: no reset at first show
        self._guards: list = []
        self._asked = False  # Quit has asked about unsaved work already
        self.quit_action = self.make_action("&Quit", "Close the studio (asks to save unsaved work)", self._quit, QKeySequence.StandardKey.Quit)
        self.reset_layout_action = self.make_action("&Reset Layout", "Put the panels back where they were at first", self.reset_layout)
        self.file_menu = self.menuBar().addMenu("&File")
        self.file_menu.addAction(self.quit_action)
        self.view_menu = self.menuBar().addMenu("&View")
        self._views_end = self.view_menu.addSeparator()  # add_view_actions puts actions above it
        self._panels_end = self.view_menu.addSeparator()  # add_dock puts each panel's toggle above it
        self.view_menu.addAction(self.reset_layout_action)
        self.help_menu = self.menuBar().addMenu("&Help")
        self.toolbar = self.addToolBar("Main")
        self.toolbar.setObjectName("main_toolbar")
        self.toolbar.setMovable(False)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self._banners = QVBoxLayout()  # set_central puts them above the central widget
        self._banners.setContentsMargins(0, 0, 0, 0)
        self._banners.setSpacing(0)

    # ---- what panels add ------------------------------------------------------------------------

    def make_action(self, text: str, tip: str, slot, shortcut=None, icon=None) -> QAction:
        """An action of this window: its tooltip doubles as the status bar's tip."""
        action = QAction(text, self)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(shortcut)
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        return action

    def add_dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea, *,
                 tab_with: QDockWidget | None = None, size: int | None = None) -> QDockWidget:
        """A panel in a dock, with its show/hide toggle in the View menu. `tab_with`: share that dock's
        place as a tab, that one staying in front; `size`: its width (left, right) or height (top,
        bottom) after Reset Layout. `name` keys the dock in the saved layout."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        if area in (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea):
            # as wide from the start as a model's names and legends make it: a minimum that grows when a
            # model opens resizes a window at its minimum width (relaid out and repainted whole)
            widget.setMinimumWidth(max(SIDE_PANEL_MIN_WIDTH, widget.minimumSizeHint().width()))
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        if tab_with is not None:
            self.tabifyDockWidget(tab_with, dock)
            tab_with.raise_()
        if size is not None:
            vertical = area in (Qt.DockWidgetArea.TopDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea)
            self._dock_sizes.append((dock, size, Qt.Orientation.Vertical if vertical else Qt.Orientation.Horizontal))
        toggle = dock.toggleViewAction()
        toggle.setText(f"{title} Panel")
        toggle.setStatusTip(f"Show or hide the {title} panel")
        self.view_menu.insertAction(self._panels_end, toggle)
        return dock

    def set_central(self, widget: QWidget) -> None:
        """The window's middle: `widget`, under the banners panels add (add_banner)."""
        middle = QWidget()
        column = QVBoxLayout(middle)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addLayout(self._banners)
        column.addWidget(widget, 1)
        self.setCentralWidget(middle)

    def add_banner(self, widget: QWidget) -> None:
        """A line across the top of the window's middle, above the central widget, for what the user
        should read before going on (the data does not suit the model); the widget shows and hides itself."""
        self._banners.addWidget(widget)

    def resize_dock(self, dock: QDockWidget, size: int) -> None:
        """Make a dock `size` pixels wide (left, right) or tall (top, bottom), e.g. to fit what it shows now."""
        vertical = self.dockWidgetArea(dock) in (Qt.DockWidgetArea.TopDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.resizeDocks([dock], [size], Qt.Orientation.Vertical if vertical else Qt.Orientation.Horizontal)

    def add_file_actions(self, actions: list[QAction]) -> None:
        """Actions in the File menu, above Quit, set apart by a separator."""
        for action in actions:
            self.file_menu.insertAction(self.quit_action, action)
        self.file_menu.insertSeparator(self.quit_action)

    def add_view_actions(self, actions: list[QAction]) -> None:
        """Actions at the top of the View menu, above the panels."""
        self.view_menu.insertActions(self._views_end, actions)

    def add_menu(self, title: str, before: QMenu | None = None) -> QMenu:
        """A menu in the menu bar, before `before` (by default before Help)."""
        menu = QMenu(title, self)
        menu.setToolTipsVisible(True)
        self.menuBar().insertMenu((before or self.help_menu).menuAction(), menu)
        return menu

    def add_tool_items(self, items: list) -> None:
        """Actions and widgets at the end of the toolbar; None puts a separator."""
        for item in items:
            if item is None:
                self.toolbar.addSeparator()
            elif isinstance(item, QAction):
                self.toolbar.addAction(item)
            else:
                self.toolbar.addWidget(item)

    def add_guard(self, ask) -> None:
        """`ask(doing)` is called before the open work is replaced (New, Open, a dropped file) or the
        user closes the window, with what is about to happen in words ("quitting"); it returns False
        to stop it (the user chose Cancel)."""
        self._guards.append(ask)

    def may_replace_work(self, doing: str) -> bool:
        """Whether every guard lets `doing` go on."""
        return all(ask(doing) for ask in self._guards)

    # ---- layout and closing ---------------------------------------------------------------------

    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock, size, orientation in self._dock_sizes:
            self.resizeDocks([dock], [size], orientation)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._default_state is None:  # dock sizes only take once the window is laid out
            self._default_state = self.saveState()
            if not self.layout_restored:
                self.reset_layout()

    def _quit(self) -> None:
        if self.may_replace_work("quitting"):
            self._asked = True
            self.close()
            self._asked = False

    def may_close(self, event) -> bool:
        """Whether a close event may close the window. The user's close (the title bar's button: a
        spontaneous event) asks about unsaved work, as Quit did already; a close the program asks for
        itself (a script, a test, a benchmark) does not wait for an answer nobody is there to give."""
        return not event.spontaneous() or self._asked or self.may_replace_work("quitting")
