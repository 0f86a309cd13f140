#!/usr/bin/env bash
# macOS: build LexBrief.app (PyInstaller BUNDLE, packaging/lexbrief.spec) and wrap it in a dmg.
#
#   packaging/macos/make-dmg.sh [starter|PATH|CATALOG_ID|none]    -> dist/LexBrief-<v>-macos-<arch>.dmg
#
# Needs Xcode's command line tools (iconutil, sips, hdiutil, codesign). Set MACOS_SIGN_ID to a
# "Developer ID Application: ..." identity to sign (then notarize the dmg with
# `xcrun notarytool submit --wait` and `xcrun stapler staple`); unsigned apps need a right-click
# "Open" the first time. On macOS llama.cpp is the portable build (Apple silicon: one CPU family,
# Metal on); there is no CPU dispatch to do. Not run on this project's CI (Linux).
set -euo pipefail
cd "$(dirname "$0")/../.."
embed="${1:-starter}"
python="${PYTHON:-python3}"
version="$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
arch="$(uname -m)"

# The .icns from the PNG icons.
iconset=build/lexbrief.iconset
rm -rf "$iconset" && mkdir -p "$iconset"
for size in 16 32 128 256; do
  sips -z "$size" "$size" resources/icons/lexbrief-256.png --out "$iconset/icon_${size}x${size}.png" >/dev/null
  double=$((size * 2))
  if [ "$double" -le 256 ]; then
    sips -z "$double" "$double" resources/icons/lexbrief-256.png --out "$iconset/icon_${size}x${size}@2x.png" >/dev/null
  fi
done
iconutil -c icns "$iconset" -o build/lexbrief.icns
export LEXBRIEF_ICON="$PWD/build/lexbrief.icns"

"$python" packaging/build.py --target bundle --embed-model "$embed"
app=build/dist/LexBrief.app
[ -d "$app" ] || { echo "PyInstaller made no $app" >&2; exit 1; }

if [ -n "${MACOS_SIGN_ID:-}" ]; then
  codesign --force --deep --options runtime --timestamp --sign "$MACOS_SIGN_ID" "$app"
fi

staging=build/dmg
rm -rf "$staging" && mkdir -p "$staging" dist
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
cp build/dist/lexbrief/THIRD-PARTY.md "$staging/" 2>/dev/null || true
out="dist/LexBrief-$version-macos-$arch.dmg"
rm -f "$out"
hdiutil create -volname "LexBrief $version" -srcfolder "$staging" -fs HFS+ -format UDZO -ov "$out"
echo "$out"
