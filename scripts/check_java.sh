#!/usr/bin/env bash
# Spark 4 needs Java 17 or newer: say so in one line when it is missing.
java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
if ! command -v "$java_bin" >/dev/null 2>&1; then
  echo "stoker: Java 17+ is required for Spark and was not found: install it (e.g. apt-get install openjdk-17-jdk-headless) or set JAVA_HOME." >&2
  exit 1
fi
major=$("$java_bin" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
if [ -z "$major" ] || [ "$major" -lt 17 ]; then
  echo "stoker: Java 17+ is required for Spark, found Java ${major:-unknown}: install openjdk-17-jdk-headless or point JAVA_HOME at a newer JDK." >&2
  exit 1
fi
