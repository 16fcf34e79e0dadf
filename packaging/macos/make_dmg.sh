#!/usr/bin/env bash
# macOS: sign (optional), notarise (optional) and wrap the PyInstaller .app in a .dmg.
# Built on CI (.github/workflows/installers.yml, a macos runner); untested on the Linux
# development machines. Input: "dist/Knowledge Assistant.app" (packaging/build.py on macOS).
# Output: dist/KnowledgeAssistant-<version>-macos-<arch>.dmg
#
# Code signing (a documented step; skipped when the variables are unset, and the app then
# opens only after right-click > Open):
#   MACOS_SIGN_IDENTITY   "Developer ID Application: Name (TEAMID)" in the keychain
#   MACOS_NOTARY_PROFILE  a profile stored with `xcrun notarytool store-credentials`
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION="${1:-0.1.0}"
APP="dist/Knowledge Assistant.app"
ARCH="$(uname -m)"
DMG="dist/KnowledgeAssistant-${VERSION}-macos-${ARCH}.dmg"
[ -d "$APP" ] || { echo "no $APP: run packaging/build.py first" >&2; exit 1; }

if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
  # inside-out: every Mach-O first, then the bundle, hardened runtime on
  find "$APP/Contents" -type f \( -name '*.so' -o -name '*.dylib' -o -perm -u+x \) -print0 |
    xargs -0 codesign --force --timestamp --options runtime \
      --entitlements packaging/macos/entitlements.plist --sign "$MACOS_SIGN_IDENTITY"
  codesign --force --timestamp --options runtime \
    --entitlements packaging/macos/entitlements.plist --sign "$MACOS_SIGN_IDENTITY" "$APP"
  codesign --verify --deep --strict --verbose=2 "$APP"
fi

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
rm -f "$DMG"
hdiutil create -volname "Knowledge Assistant" -srcfolder "$STAGE" -ov -format UDZO "$DMG"

if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
  codesign --force --timestamp --sign "$MACOS_SIGN_IDENTITY" "$DMG"
  if [ -n "${MACOS_NOTARY_PROFILE:-}" ]; then
    xcrun notarytool submit "$DMG" --keychain-profile "$MACOS_NOTARY_PROFILE" --wait
    xcrun stapler staple "$DMG"
  fi
fi
echo "$DMG"
