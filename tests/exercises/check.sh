#!/bin/sh
# make check E=NAME [STUDENT=path/to/ig.h]: grade one copy of ig.h on exercise NAME.
#   tests/exercises/check.sh NAME [STUDENT] [BUILD]
# Copies STUDENT (default BUILD/exercises/NAME/ig.h) to GRADE_DIR (default
# BUILD/grade/NAME), builds tests/exercises/grade.c against it (one file, -O1: a few
# seconds) and runs NAME's checks.  Exit status: 0 all passed, 1 a check failed,
# 2 a usage error, 3 the copy does not compile.
set -u
E=${1:-}; S=${2:-}; B=${3:-build}; CC=${CC:-cc}
if [ -z "$E" ]; then
  echo "usage: make check E=NAME [STUDENT=path/to/ig.h]   (make exercises lists the names)" >&2; exit 2
fi
[ -n "$S" ] || S=$B/exercises/$E/ig.h
if [ ! -f "$S" ]; then
  echo "check: $S does not exist; make exercise E=$E writes it" >&2; exit 2
fi
D=${GRADE_DIR:-$B/grade/$E}
mkdir -p "$D"
cp "$S" "$D/ig.h"
echo "grading $S on exercise $E"
if ! $CC -std=c99 -O1 -I"$D" -o "$D/grade" tests/exercises/grade.c -lm 2> "$D/compile.log"; then
  echo "FAIL  $S does not compile; the compiler's first error:"
  grep -m1 -A4 'error' "$D/compile.log" | sed "s|$D/ig.h|$S|g; s/^/      /"
  echo "      hint: change only exercise $E's piece (where the stub was); the rest of ig.h stays as it was"
  echo "      (all of the compiler's output: $D/compile.log)"
  echo "0 passed, 1 failed"
  exit 3
fi
"$D/grade" "$E"
