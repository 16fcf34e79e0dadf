"""Colours and the style sheet, derived from the palette so light and dark themes both work.

Nothing here hard-codes a background: colours are the palette's, or blends of its roles. The
style sheet is rebuilt when the system switches between light and dark
(`QStyleHints.colorSchemeChanged`).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

ICON_PATH = Path(__file__).with_name("icons") / "knowledge-assistant.svg"


def app_icon() -> QIcon:
    return QIcon(str(ICON_PATH))


def palette() -> QPalette:
    return QGuiApplication.palette()


def is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = hints.colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return palette().color(QPalette.ColorRole.Window).lightness() < 128


def blend(a: QColor, b: QColor, t: float) -> QColor:
    """`a` moved a fraction `t` towards `b`."""
    return QColor(round(a.red() + (b.red() - a.red()) * t),
                  round(a.green() + (b.green() - a.green()) * t),
                  round(a.blue() + (b.blue() - a.blue()) * t))


def role(name: QPalette.ColorRole) -> QColor:
    return palette().color(name)


def muted() -> QColor:
    """Secondary text: the text colour faded towards the background."""
    return blend(role(QPalette.ColorRole.WindowText), role(QPalette.ColorRole.Window), 0.42)


def border() -> QColor:
    return blend(role(QPalette.ColorRole.WindowText), role(QPalette.ColorRole.Window), 0.82)


def card() -> QColor:
    """A surface slightly apart from the window (cards, bubbles)."""
    base = role(QPalette.ColorRole.Base)
    text = role(QPalette.ColorRole.Text)
    return blend(base, text, 0.05 if not is_dark() else 0.07)


def accent() -> QColor:
    return role(QPalette.ColorRole.Highlight)


def accent_soft() -> QColor:
    return blend(role(QPalette.ColorRole.Base), accent(), 0.16 if not is_dark() else 0.30)


def mark() -> QColor:
    """The background of a highlighted (cited) span: a marker yellow that suits the theme."""
    return QColor(255, 214, 10, 110) if not is_dark() else QColor(255, 200, 0, 80)


def mark_solid() -> QColor:
    """`mark` composed over the base colour (for widgets that cannot blend alpha)."""
    base = role(QPalette.ColorRole.Base)
    m = mark()
    return blend(base, QColor(m.red(), m.green(), m.blue()), m.alphaF())


def good() -> QColor:
    return QColor("#2e9d57") if not is_dark() else QColor("#5cc988")


def bad() -> QColor:
    return QColor("#c8402f") if not is_dark() else QColor("#ff7b6b")


def warn() -> QColor:
    return QColor("#b26a00") if not is_dark() else QColor("#f0b44c")


def css(color: QColor) -> str:
    if color.alpha() < 255:
        return f"rgba({color.red()}, {color.green()}, {color.blue()}, {color.alpha()})"
    return color.name()


def style_sheet() -> str:
    """The app's style sheet for the current palette."""
    text = role(QPalette.ColorRole.Text)
    base = role(QPalette.ColorRole.Base)
    window = role(QPalette.ColorRole.Window)
    hl = accent()
    hl_text = role(QPalette.ColorRole.HighlightedText)
    return f"""
    QWidget#Sidebar {{ background: {css(blend(window, text, 0.03))}; }}
    QLabel#SidebarTitle, QLabel#PaneTitle {{
        font-weight: 600; color: {css(muted())}; padding: 2px 2px;
    }}
    QLabel#Muted {{ color: {css(muted())}; }}
    QLabel#EmptyTitle {{ font-size: 20pt; font-weight: 600; }}
    QLabel#EmptyText {{ color: {css(muted())}; font-size: 11pt; }}
    QFrame#QuestionBubble {{
        background: {css(accent_soft())}; border-radius: 12px;
    }}
    QFrame#TurnCard[selected="true"] {{
        border-left: 3px solid {css(hl)};
    }}
    QFrame#TurnCard {{ border-left: 3px solid transparent; }}
    QFrame#SourceCard {{
        background: {css(card())}; border: 1px solid {css(border())}; border-radius: 8px;
    }}
    QFrame#SourceCard:hover {{ border: 1px solid {css(hl)}; }}
    QFrame#SourceCard[current="true"] {{ border: 2px solid {css(hl)}; }}
    QFrame#Composer {{
        background: {css(base)}; border: 1px solid {css(border())}; border-radius: 10px;
    }}
    QFrame#Composer[focused="true"] {{ border: 1px solid {css(hl)}; }}
    QPlainTextEdit#QuestionBox {{ background: transparent; border: none; }}
    QFrame#ProgressArea {{
        background: {css(card())}; border-top: 1px solid {css(border())};
    }}
    QFrame#DropOverlay {{
        background: {css(QColor(hl.red(), hl.green(), hl.blue(), 40))};
        border: 3px dashed {css(hl)}; border-radius: 16px;
    }}
    QLabel#DropOverlayText {{ font-size: 18pt; font-weight: 600; color: {css(hl)}; }}
    QPushButton#Primary {{
        background: {css(hl)}; color: {css(hl_text)}; border: none; border-radius: 6px;
        padding: 6px 16px; font-weight: 600;
    }}
    QPushButton#Primary:hover {{ background: {css(hl.lighter(112))}; }}
    QPushButton#Primary:disabled {{ background: {css(border())}; color: {css(muted())}; }}
    QToolButton#Action {{
        border: none; border-radius: 4px; padding: 2px 6px; color: {css(muted())};
    }}
    QToolButton#Action:hover {{ background: {css(accent_soft())}; color: {css(text)}; }}
    QToolButton#Action:checked {{ color: {css(good())}; font-weight: 600; }}
    QLabel#Badge {{
        border-radius: 8px; padding: 1px 8px; background: {css(accent_soft())};
    }}
    QListWidget#Conversations {{ border: none; background: transparent; }}
    QListWidget#Conversations::item {{ padding: 6px 8px; border-radius: 6px; }}
    QListWidget#Conversations::item:selected {{
        background: {css(accent_soft())}; color: {css(text)};
    }}
    QScrollArea#ChatScroll, QScrollArea#SourcesScroll {{ border: none; background: {css(base)}; }}
    QWidget#ChatContents, QWidget#SourcesContents {{ background: {css(base)}; }}
    QTextBrowser#AnswerText {{ background: transparent; border: none; }}
    """


def apply(app: QApplication) -> None:
    app.setStyleSheet(style_sheet())
