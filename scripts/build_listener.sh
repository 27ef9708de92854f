#!/usr/bin/env bash
# Build the Stoker Spark listener jar from source against the installed pyspark's jars.
# Idempotent: does nothing when the jar is newer than every source file. Usage:
#   scripts/build_listener.sh [python]      (default python: .venv/bin/python, else python3)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$root/.venv/bin/python" ]]; then python="$root/.venv/bin/python"; else python=python3; fi
fi
src="$root/src/stoker/events/listener"
jar="$src/stoker-listener.jar"

newest_source="$(find "$src" -name '*.java' -newer "$jar" 2>/dev/null | head -n 1 || true)"
if [[ -f "$jar" && -z "$newest_source" ]]; then
  echo "listener jar is up to date: $jar"
  exit 0
fi

spark_jars="$("$python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
find "$src" -name '*.java' > "$build/sources"
javac --release 17 -nowarn -encoding UTF-8 -cp "$spark_jars/*" -d "$build/classes" @"$build/sources"
jar --create --file "$build/stoker-listener.jar" -C "$build/classes" .
mv "$build/stoker-listener.jar" "$jar"  # atomic: a running build never leaves half a jar
echo "built $jar"
