#!/bin/sh
# make exercises-check: the grader checked in both directions, for every exercise of
# tools/exercise.c (CI runs it; a few minutes on 2 cores):
#   1. the blank copy (make exercise) compiles and FAILS its check;
#   2. the original ig.h PASSES it;
#   3. every wrong answer tests/exercises/answers/NAME.wrong-*.c FAILS it (compiling);
#   4. every second solution tests/exercises/answers/NAME.right-*.c PASSES it.
# An answer file replaces the exercise's piece(s): its sections start after lines
# beginning "//@@", one per cut, in the order of the exercise's entry.
# The task sheet tests/exercises/tasks/NAME.md must exist, and each exercise needs at
# least two wrong answers.  ONLY=NAME checks one exercise.
set -u
B=${BUILD:-build}; CC=${CC:-cc}
T=$B/exercise; A=tests/exercises/answers; W=$B/exercises-check
mkdir -p "$W"
[ -x "$T" ] || { echo "exercises-check: build $T first (make $T)"; exit 2; }
bad=0; n=0; nright=0
say() { echo "$@"; }
fail() { say "  FAILED: $*"; bad=$((bad + 1)); }
# run_check NAME FILE WANT(0 pass, 1 fail) LABEL
run_check() {
  GRADE_DIR=$W/grade CC="$CC" sh tests/exercises/check.sh "$1" "$2" "$B" > "$W/out" 2>&1
  rc=$?
  n=$((n + 1))
  if [ "$3" = 0 ] && [ $rc = 0 ]; then say "  ok  $4 passes ($(tail -n 1 "$W/out"))"; return; fi
  if [ "$3" = 1 ] && [ $rc = 1 ]; then say "  ok  $4 fails ($(tail -n 1 "$W/out"))"; return; fi
  fail "$4: check exited $rc, expected $( [ "$3" = 0 ] && echo 'a pass (0)' || echo 'a failed check (1)')"
  sed 's/^/      /' "$W/out" | head -n 20
}
# the original, compiled once
mkdir -p "$W/orig"; cp ig.h "$W/orig/ig.h"
$CC -std=c99 -O1 -I"$W/orig" -o "$W/orig/grade" tests/exercises/grade.c -lm || { echo "grade.c does not compile with ig.h"; exit 1; }
for e in $("$T" names); do
  [ -n "${ONLY:-}" ] && [ "$e" != "$ONLY" ] && continue
  say "== $e"
  [ -f tests/exercises/tasks/$e.md ] || fail "no task sheet tests/exercises/tasks/$e.md"
  if "$T" blank "$e" ig.h "$W/$e.blank.h"; then
    printf '#define IG_IMPLEMENTATION\n#include "%s.blank.h"\nint main(void) { return 0; }\n' "$e" > "$W/$e.blank.c"
    if $CC -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only "$W/$e.blank.c" 2> "$W/warn" &&
       { ! command -v "${CXX:-c++}" >/dev/null ||
         "${CXX:-c++}" -x c++ -std=c++11 -Wall -Wextra -pedantic -Werror -fsyntax-only "$W/$e.blank.c" 2>> "$W/warn"; }; then
      say "  ok  the blank copy compiles without warnings (C99, C++11)"
    else fail "the blank copy has warnings or errors:"; head -n 8 "$W/warn" | sed 's/^/      /'; fi
    run_check "$e" "$W/$e.blank.h" 1 "the blank copy"
  else fail "the tool could not cut $e out of ig.h"; fi
  n=$((n + 1))
  if "$W/orig/grade" "$e" > "$W/out" 2>&1; then say "  ok  ig.h passes ($(tail -n 1 "$W/out"))"
  else fail "ig.h itself fails $e"; sed 's/^/      /' "$W/out" | head -n 20; fi
  nw=0
  for f in $A/$e.wrong-*.c $A/$e.right-*.c; do
    [ -f "$f" ] || continue
    case "$f" in *.wrong-*) want=1; nw=$((nw + 1));; *) want=0; nright=$((nright + 1));; esac
    if "$T" blank "$e" ig.h "$W/$e.answer.h" "$f"; then run_check "$e" "$W/$e.answer.h" $want "$(basename "$f" .c)"
    else fail "$f does not apply"; fi
  done
  [ $nw -ge 2 ] || fail "$e has $nw wrong answers in $A (at least 2)"
done
say "exercises-check: $n checks, $nright second solutions, $bad problem(s)"
[ $bad = 0 ]
