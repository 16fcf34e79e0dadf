#!/usr/bin/env bash
# Smoke test of a frozen bundle, on any OS (bash: Git Bash on Windows): the console
# `assistant` indexes tests/data/docs, answers the kettle question citing handbook.pdf page 2,
# and the windowed app's --self-test (offscreen) opens the window, the PDF at page 2, and
# answers once. Usage: packaging/smoke_test.sh dist/knowledge-assistant
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE="${1:-dist/knowledge-assistant}"
EXE=""
case "$(uname -s)" in MINGW*|MSYS*|CYGWIN*) EXE=".exe" ;; esac
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export ASSISTANT_HOME="$WORK/home"
cp -R tests/data/docs "$WORK/docs"
rm -rf "$WORK/docs/__pycache__"
Q="How long is the guarantee on the Zephyr X200 kettle?"

if [ -x "$BUNDLE/tesseract/bin/tesseract" ]; then  # Linux: the bundle's own Tesseract runs
  LD_LIBRARY_PATH="$BUNDLE/tesseract/lib" TESSDATA_PREFIX="$BUNDLE/tesseract/tessdata" \
    "$BUNDLE/tesseract/bin/tesseract" --list-langs | grep -qx eng
  echo "tesseract: ok, bundled with its English data"
fi
"$BUNDLE/assistant$EXE" index "$WORK/docs" --json | tail -n 1
"$BUNDLE/assistant$EXE" ask "$Q" --json | tail -n 1 > "$WORK/ask.json"
python - "$WORK/ask.json" <<'PY'
import json, sys
out = json.load(open(sys.argv[1], encoding="utf-8"))
cited = out["citations"][0]
assert "27" in out["answer"] and cited["path"].endswith("handbook.pdf") and cited["page"] == 2, out
print("ask: ok,", out["answer"].strip()[:80])
PY
QT_QPA_PLATFORM=offscreen "$BUNDLE/knowledge-assistant$EXE" --self-test \
  --pdf "$WORK/docs/handbook.pdf" --page 2 --question "$Q" --report "$WORK/self-test.json"
python - "$WORK/self-test.json" <<'PY'
import json, sys
out = json.load(open(sys.argv[1], encoding="utf-8"))
assert out["ok"] and out["pdf_page"] == 2, out
print(f"self-test: ok, window after {out['window_s']} s, answer after {out['answer_s']} s")
PY
