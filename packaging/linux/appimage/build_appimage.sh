#!/usr/bin/env bash
# AppImage of the frozen bundle. UNTESTED on the development machines (appimagetool is a
# download they cannot make); meant for a CI runner (.github/workflows/installers.yml).
# Input: dist/knowledge-assistant (packaging/build.py), build/icons (packaging/icons.py).
# Output: dist/KnowledgeAssistant-<version>-x86_64.AppImage
set -euo pipefail
cd "$(dirname "$0")/../../.."
VERSION="${1:-0.1.0}"
ARCH="$(uname -m)"
APPDIR=build/AppDir
TOOL="${APPIMAGETOOL:-build/appimagetool-${ARCH}.AppImage}"
if [ ! -x "$TOOL" ]; then
  curl -fsSL -o "$TOOL" \
    "https://github.com/AppImage/appimagetool/releases/download/continuous/appimagetool-${ARCH}.AppImage"
  chmod +x "$TOOL"
fi
rm -rf "$APPDIR"
mkdir -p "$APPDIR/usr/share/applications" "$APPDIR/usr/share/icons/hicolor/256x256/apps"
cp -a dist/knowledge-assistant "$APPDIR/usr/knowledge-assistant"
cp packaging/linux/appimage/AppRun "$APPDIR/AppRun"
chmod +x "$APPDIR/AppRun"
cp resources/knowledge-assistant.desktop "$APPDIR/knowledge-assistant.desktop"
cp resources/knowledge-assistant.desktop "$APPDIR/usr/share/applications/"
cp build/icons/knowledge-assistant-256.png "$APPDIR/knowledge-assistant.png"
cp build/icons/knowledge-assistant-256.png "$APPDIR/usr/share/icons/hicolor/256x256/apps/knowledge-assistant.png"
# the system's xcb libraries are not bundled (see the .deb's Depends); the app names any
# missing one at start-up
ARCH="$ARCH" "$TOOL" --appimage-extract-and-run --no-appstream "$APPDIR" \
  "dist/KnowledgeAssistant-${VERSION}-${ARCH}.AppImage"
