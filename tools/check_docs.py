#!/usr/bin/env python3
"""Run the commands printed in README.md and docs/*.md, as a new user would.

The checker clones the repository (its committed HEAD) into a temporary directory
and runs, from the top of that clone, every fenced sh block that is marked as
runnable, in order: README.md first, then docs/*.md by name.  It stops at the first
command that fails and prints its file, line and text, and the end of its output.

Marking.  The line right above a fenced block of shell commands (```sh, ```bash,
```shell or ```console) says what the checker does with it:

    <!-- run -->              run it (make docs-check; CI runs these)
    <!-- run: slow -->        run it only with --slow (make docs-check SLOW=1):
                              minutes of CPU, e.g. make toy, make mutants, timings
    <!-- no-run: REASON -->   never run it: it needs the network, files that are not
                              in the repository, or hours; REASON says which

A shell block without a marker, a marker without a block, and a command printed in
an indented code block (where no marker can reach it) are errors, so every command
a page prints is classified.  Relative links and images must point at files that
exist, and #anchors at headings.

How a block runs: one bash process per block (so `export` and `cd` hold until the
block ends), starting at the top of the clone; lines ending in a backslash continue
the command.  After each command the exit status is checked (a failing `make x &&
./y` fails too).  Blocks share the clone, so a later block sees what an earlier one
built.  A command that already passed in an earlier block is not run again (each
such skip is printed; --no-dedupe runs it anyway).

Usage: tools/check_docs.py [--slow] [--list] [--keep] [--repo DIR] [--timeout S]
                           [--no-dedupe] [-v] [FILE ...]
FILE (README.md, docs/speed.md, ...) limits the run to those pages.
Exit status: 0 all ran, 1 a command failed, 2 a marking or link error.
"""
import argparse
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SHELL_LANGS = {"sh", "bash", "shell", "console"}
MARKER = re.compile(r"^<!--\s*(run|run:\s*slow|no-run:\s*(.*?))\s*-->\s*$")
ANY_MARKER = re.compile(r"^<!--\s*(run|no-run)\b")
FENCE = re.compile(r"^(```+|~~~+)\s*([A-Za-z0-9_+-]*)")
# A line of an indented code block that looks like a command someone would type.
INDENTED_CMD = re.compile(
    r"^(?: {4}|\t)\s*(?:make\b|build/|\./build/|/usr/bin/python3\b|python3\b|"
    r"huggingface-cli\b|OMP_[A-Z_]+=|export\b|git\b|\.\./|apt-get\b|sudo\b|cc\b|gcc\b)")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
SENTINEL = "\x1edocs-check"


class Block:
    def __init__(self, path, line, tier, reason, commands):
        self.path = path          # relative to the repository
        self.line = line          # line of the opening fence (1-based)
        self.tier = tier          # "run", "slow" or "no-run"
        self.reason = reason
        self.commands = commands  # [(line, text)], continuation lines joined


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to -."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def parse(root, rel):
    """Blocks and marking errors of one page."""
    lines = open(os.path.join(root, rel), encoding="utf-8").read().split("\n")
    blocks, errors = [], []
    anchors = set()
    pending = None            # (line, tier, reason) of a marker awaiting its block
    i = 0
    while i < len(lines):
        text = lines[i]
        m = FENCE.match(text)
        if m:
            fence, lang = m.group(1), m.group(2).lower()
            j = i + 1
            while j < len(lines) and not lines[j].startswith(fence[:3]):
                j += 1
            body = lines[i + 1:j]
            is_shell = lang in SHELL_LANGS or (
                lang == "" and any(INDENTED_CMD.match("    " + b) for b in body))
            if is_shell:
                if pending is None or pending[0] != i:
                    errors.append("%s:%d: a shell block without a marker on the line above "
                                  "(<!-- run -->, <!-- run: slow --> or <!-- no-run: REASON -->)"
                                  % (rel, i + 1))
                else:
                    blocks.append(Block(rel, i + 1, pending[1], pending[2], join_commands(body, i + 2)))
            elif pending is not None and pending[0] == i:
                errors.append("%s:%d: the marker above is on a ```%s block, not a shell block"
                              % (rel, i + 1, lang))
            pending = None
            i = j + 1
            continue
        mm = MARKER.match(text.strip())
        if mm:
            kind = mm.group(1)
            if kind.startswith("no-run"):
                reason = (mm.group(2) or "").strip()
                if not reason:
                    errors.append("%s:%d: no-run needs a reason: <!-- no-run: REASON -->" % (rel, i + 1))
                pending = (i + 1, "no-run", reason)
            else:
                pending = (i + 1, "slow" if "slow" in kind else "run", "")
            if i + 1 >= len(lines) or not FENCE.match(lines[i + 1]):
                errors.append("%s:%d: a marker must sit on the line right above a ```sh block" % (rel, i + 1))
        elif ANY_MARKER.match(text.strip()):
            errors.append("%s:%d: unknown marker %r (no-run needs a reason: <!-- no-run: REASON -->)"
                          % (rel, i + 1, text.strip()))
        elif INDENTED_CMD.match(text):
            errors.append("%s:%d: a command in an indented code block; put it in a ```sh "
                          "block with a marker above: %s" % (rel, i + 1, text.strip()))
        elif text.startswith("#"):
            anchors.add(slug(text.lstrip("#")))
        i += 1
    return blocks, errors, anchors, lines


def join_commands(body, first_line):
    """[(line, command)] from a block's lines: comments and blank lines dropped,
    backslash continuations joined."""
    out, cur, start = [], [], None
    for k, text in enumerate(body):
        if not cur and (not text.strip() or text.lstrip().startswith("#")):
            continue
        if not cur:
            start = first_line + k
        cur.append(text)
        if not text.rstrip().endswith("\\"):
            out.append((start, "\n".join(cur)))
            cur = []
    if cur:
        out.append((start, "\n".join(cur)))
    return out


def check_links(root, rel, lines, anchors_of):
    errors = []
    in_fence = False
    for n, text in enumerate(lines, 1):
        if FENCE.match(text):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for target in LINK.findall(text):
            if re.match(r"^[a-z]+:", target):
                continue                      # http:, https:, mailto:
            path, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(rel), path)) if path else rel
            if path and not os.path.exists(os.path.join(root, dest)):
                errors.append("%s:%d: link to a missing file: %s" % (rel, n, target))
            elif anchor and dest.endswith(".md") and dest in anchors_of and anchor not in anchors_of[dest]:
                errors.append("%s:%d: no heading for the anchor: %s" % (rel, n, target))
    return errors


def pages(root, only):
    found = ["README.md"] + sorted(
        os.path.join("docs", f) for f in os.listdir(os.path.join(root, "docs")) if f.endswith(".md"))
    if only:
        want = [os.path.normpath(f) for f in only]
        missing = [f for f in want if f not in found]
        if missing:
            sys.exit("check_docs: not a page: %s (pages: %s)" % (", ".join(missing), ", ".join(found)))
        found = [f for f in found if f in want]
    return found


def dedupe_key(cmd):
    """A command without its trailing comment and extra blanks (outside quotes)."""
    out, quote = [], None
    for k, ch in enumerate(cmd):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (k == 0 or cmd[k - 1].isspace()):
            break
        out.append(ch)
    return " ".join("".join(out).split())


def shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def block_script(block, commands):
    """A bash script that announces each command, runs it, and stops on failure."""
    out = []
    for line, cmd in commands:
        out.append("printf '%%s\\n' %s" % shell_quote("%s %d %s" % (SENTINEL, line, cmd.replace("\n", " "))))
        out.append(cmd)
        out.append("__rc=$?; if [ $__rc -ne 0 ]; then printf '%%s\\n' %s; exit $__rc; fi"
                   % shell_quote("%s failed" % SENTINEL))
    return "\n".join(out) + "\n"


def run_block(block, commands, clone, timeout, verbose, log):
    """Runs one block; returns None, or (line, command, status, tail of output)."""
    proc = subprocess.Popen(["bash", "-c", block_script(block, commands)], cwd=clone,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + timeout
    current, started, tail, buf = None, None, [], b""
    by_line = dict(commands)

    def finish_current():
        if current is not None:
            print("    ok  %6.1f s  %s:%d  %s" % (time.time() - started, block.path, current,
                                                   by_line[current].replace("\n", " ")), flush=True)

    while True:
        left = deadline - time.time()
        if left <= 0:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return (current, by_line.get(current, "?"), "timeout after %d s" % timeout, tail)
        ready, _, _ = select.select([proc.stdout], [], [], min(left, 5.0))
        if not ready:
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        *done, buf = buf.split(b"\n")
        for raw in done:
            text = raw.decode("utf-8", "replace")
            if text.startswith(SENTINEL + " failed"):
                continue
            if text.startswith(SENTINEL + " "):
                finish_current()
                current = int(text.split(" ", 2)[1])
                started, tail = time.time(), []
                log.write("\n$ %s:%d: %s\n" % (block.path, current, by_line[current]))
                continue
            log.write(text + "\n")
            tail = (tail + [text])[-40:]
            if verbose:
                print("        " + text, flush=True)
    status = proc.wait()
    if status != 0:
        return (current, by_line.get(current, "?"), "exit status %d" % status, tail)
    finish_current()
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", help="pages to check (default: README.md and docs/*.md)")
    ap.add_argument("--slow", action="store_true", help="also run the blocks marked <!-- run: slow -->")
    ap.add_argument("--list", action="store_true", help="check the marking and list the blocks, run nothing")
    ap.add_argument("--keep", action="store_true", help="keep the clone (its path is printed)")
    ap.add_argument("--repo", default=None, help="the repository to clone (default: this script's)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per block (default 3600)")
    ap.add_argument("--no-dedupe", action="store_true", help="run a command again even if it passed earlier")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every command's output")
    args = ap.parse_args()

    repo = args.repo or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    repo = subprocess.run(["git", "-C", repo, "rev-parse", "--show-toplevel"], check=True,
                          capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()

    tmp = tempfile.mkdtemp(prefix="ig-docs-check-")
    clone = os.path.join(tmp, "ig")
    try:
        subprocess.run(["git", "clone", "--quiet", repo, clone], check=True)
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--", "README.md", "docs"],
                               capture_output=True, text=True).stdout.strip()
        print("check_docs: a fresh clone of %s at %s in %s" % (repo, head, clone))
        if dirty:
            print("check_docs: note: uncommitted changes to README.md or docs/ are not checked:\n  "
                  + dirty.replace("\n", "\n  "))

        files = pages(clone, args.files)
        parsed, errors, anchors_of = {}, [], {}
        for rel in pages(clone, []):
            parsed[rel] = parse(clone, rel)
            anchors_of[rel] = parsed[rel][2]
        for rel in files:
            blocks, errs, _, lines = parsed[rel]
            errors += errs + check_links(clone, rel, lines, anchors_of)
        if errors:
            print("\n".join(errors))
            print("check_docs: %d marking or link error(s)" % len(errors))
            return 2

        blocks = [b for rel in files for b in parsed[rel][0]]
        count = {t: sum(len(b.commands) for b in blocks if b.tier == t) for t in ("run", "slow", "no-run")}
        print("check_docs: %d blocks; commands: %d run, %d slow, %d no-run"
              % (len(blocks), count["run"], count["slow"], count["no-run"]))
        if args.list:
            for b in blocks:
                tag = b.tier + (": " + b.reason if b.reason else "")
                print("%s:%d  [%s]" % (b.path, b.line, tag))
                for line, cmd in b.commands:
                    print("    %d: %s" % (line, cmd.replace("\n", "\n        ")))
            return 0

        todo = [b for b in blocks if b.tier == "run" or (args.slow and b.tier == "slow")]
        passed = {}
        t0 = time.time()
        ran = 0
        with open(os.path.join(tmp, "output.log"), "w") as log:
            for b in todo:
                print("==> %s:%d [%s]" % (b.path, b.line, b.tier), flush=True)
                commands = []
                for line, cmd in b.commands:
                    first = cmd.split()[0] if cmd.split() else ""
                    key = dedupe_key(cmd)
                    if not args.no_dedupe and key in passed and first not in ("export", "cd"):
                        print("    --  skipped   %s:%d  %s (the same command passed at %s)"
                              % (b.path, line, cmd.replace("\n", " "), passed[key]), flush=True)
                        continue
                    commands.append((line, cmd))
                if not commands:
                    continue
                failure = run_block(b, commands, clone, args.timeout, args.verbose, log)
                if failure:
                    line, cmd, why, tail = failure
                    print("\n".join("    | " + t for t in tail))
                    print("check_docs: FAILED (%s): %s:%s: %s" % (why, b.path, line, cmd))
                    print("check_docs: all output is in %s" % os.path.join(tmp, "output.log"))
                    args.keep = True
                    return 1
                for line, cmd in commands:
                    passed.setdefault(dedupe_key(cmd), "%s:%d" % (b.path, line))
                ran += len(commands)
        print("check_docs: %d commands passed in %.0f s (%s)"
              % (ran, time.time() - t0, "fast and slow" if args.slow else "fast; SLOW=1 for the slow ones too"))
        return 0
    finally:
        if args.keep:
            print("check_docs: kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
