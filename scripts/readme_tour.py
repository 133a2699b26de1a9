#!/usr/bin/env python3
"""Runs the README's tour as written, against a fresh server: the check that the README works.

The tour is every ```sh block between `<!-- readme-tour: begin -->` and
`<!-- readme-tour: end -->` in README.md. They run in order in one bash process, as a reader
would paste them into one terminal, against a server started here from the built binary on its
embedded SQLite default (in a temporary directory, on a free port). Two substitutions stand for
what the reader does by hand: the operator token the server printed replaces `palop_...`, and
the free port replaces 8080.

A block fails the check when a command fails (`set -euo pipefail`) or when an HTTP answer is an
error (4xx/5xx) that the README does not say to expect. A command that is meant to be refused
says so in the answer comment that follows it: `# => HTTP 409 {...}`. `curl` is wrapped to
check that.

It also checks that the README's list of scope names (between `<!-- scopes: begin -->` and
`<!-- scopes: end -->`) is the one `GET /api/v1/scopes` serves.

Only python3 and bash are needed beside the binary (the tour itself uses curl, python3 and
coreutils, as a fresh Debian machine has them). The server is stopped however this ends.

Usage: readme_tour.py --binary target/debug/palisade [--readme README.md] [--keep-output]
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BEGIN = "<!-- readme-tour: begin -->"
SCOPES_BEGIN = "<!-- scopes: begin -->"
SCOPES_END = "<!-- scopes: end -->"
END = "<!-- readme-tour: end -->"
TOKEN_LINE = re.compile(r"Generated operator token \(shown only now; keep it safe\): (\S+)")
EXPECT = re.compile(r"^\s*# => HTTP (\d{3})\b")

# Every curl of the tour goes through this: the answer is printed as curl -s would, and an error
# status fails the command unless TOUR_EXPECT names it.
PREAMBLE = r"""
set -euo pipefail
# The command line for messages, credentials left out.
shown() { printf 'curl %s' "$*" | sed -E 's/(Bearer|OAuth) [^ ]+/\1 [redacted]/g; s/(-u|--user) [^ ]+/\1 [redacted]/g'; }
curl() {
    local body status
    body=$(mktemp)
    if ! status=$(command curl -sS -o "$body" -w '%{http_code}' "$@"); then
        cat "$body"; rm -f "$body"
        echo "readme-tour: curl could not complete: $(shown "$@")" >&2
        return 1
    fi
    cat "$body"; rm -f "$body"
    if [ -n "${TOUR_EXPECT:-}" ]; then
        if [ "$status" != "$TOUR_EXPECT" ]; then
            echo >&2; echo "readme-tour: expected HTTP $TOUR_EXPECT, got $status: $(shown "$@")" >&2
            return 1
        fi
    elif [ "$status" -ge 400 ]; then
        echo >&2; echo "readme-tour: HTTP $status, which the README does not expect: $(shown "$@")" >&2
        return 1
    fi
}
"""


def tour_blocks(readme):
    """The ```sh blocks between the markers, each as (line number, lines)."""
    text = open(readme, encoding="utf-8").read()
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        sys.exit(f"readme-tour: {readme} must hold one {BEGIN} … {END} section")
    first_line = text[: text.index(BEGIN)].count("\n") + 1
    section = text[text.index(BEGIN) : text.index(END)].split("\n")
    blocks, current, start = [], None, 0
    for i, line in enumerate(section):
        if current is None and line.strip() == "```sh":
            current, start = [], first_line + i + 1
        elif current is not None and line.strip() == "```":
            blocks.append((start, current))
            current = None
        elif current is not None:
            current.append(line)
    if current is not None or not blocks:
        sys.exit("readme-tour: no complete ```sh block in the tour section")
    return blocks


# A single-quoted string, or a double-quoted one with its backslash escapes.
QUOTED = re.compile(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"")


def open_quote(text):
    """Whether `text` leaves a quoted string open."""
    rest = QUOTED.sub("", text)
    return "'" in rest or '"' in rest


def annotate(start, lines):
    """The block's lines, a command whose answer comment says `# => HTTP NNN` run with
    TOUR_EXPECT=NNN. A command continues over lines ending in a backslash and over lines inside
    a quoted string."""
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            out.append(line)
            i += 1
            continue
        command = [line]
        while command[-1].rstrip().endswith("\\") or open_quote("\n".join(command)):
            if i + len(command) >= len(lines):
                sys.exit(f"readme-tour: README.md:{start + i}: a command is left unfinished at the end of its block")
            command.append(lines[i + len(command)])
        i += len(command)
        expect = EXPECT.match(lines[i]) if i < len(lines) else None
        if expect:
            out.append(f"export TOUR_EXPECT={expect.group(1)}")
        out.extend(command)
        if expect:
            out.append("unset TOUR_EXPECT")
    return out


def check_scopes(readme, port, token):
    """The README's list of scope names (between the scopes markers, each in backticks) is the
    one `GET /api/v1/scopes` serves."""
    text = open(readme, encoding="utf-8").read()
    if SCOPES_BEGIN not in text or SCOPES_END not in text:
        return f"{readme} must list the scope names between {SCOPES_BEGIN} and {SCOPES_END}"
    listed = set(re.findall(r"`([a-z_:-]+)`", text[text.index(SCOPES_BEGIN) : text.index(SCOPES_END)]))
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/scopes", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        served = {s["name"] for s in json.load(r)["scopes"]}
    if listed != served:
        return (
            f"the README's scope list differs from GET /api/v1/scopes: missing {sorted(served - listed)}, "
            f"not scopes {sorted(listed - served)}"
        )
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary, workdir, port):
    """The binary on its defaults (SQLite under workdir/palisade-data), and the operator token
    it printed."""
    server = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{port}"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=open(os.path.join(workdir, "server.log"), "w"),
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PALISADE_")},
    )
    token = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if token is None:
            line = server.stdout.readline()
            if not line:
                break
            match = TOKEN_LINE.search(line)
            token = match.group(1) if match else None
            continue
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return server, token
        except OSError:
            time.sleep(0.05)
    server.kill()
    log = open(os.path.join(workdir, "server.log")).read()
    sys.exit(f"readme-tour: the server did not start (token seen: {token is not None}):\n{log}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--keep-output", action="store_true", help="print the tour's output on success too")
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    blocks = tour_blocks(args.readme)

    # Ended by SIGTERM or SIGINT: still stop the server (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="readme-tour-") as workdir:
        port = free_port()
        server, token = start_server(binary, workdir, port)
        try:
            script = [PREAMBLE]
            for start, lines in blocks:
                script.append(f"echo '--- README.md:{start}' >&2")
                for line in annotate(start, lines):
                    script.append(line.replace("palop_...", token).replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
            path = os.path.join(workdir, "tour.sh")
            with open(path, "w") as f:
                f.write("\n".join(script) + "\n")
            try:
                # The tour's `palisade` commands are the built binary, as after `cargo install`;
                # nothing of the reader's own PALISADE_* settings leaks in.
                env = {k: v for k, v in os.environ.items() if not k.startswith("PALISADE_")}
                env["PATH"] = os.path.dirname(binary) + os.pathsep + env.get("PATH", "")
                run = subprocess.run(
                    ["bash", path],
                    cwd=workdir,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=120,
                )
            except subprocess.TimeoutExpired as timeout:
                output = timeout.stdout.decode(errors="replace") if timeout.stdout else ""
                run = subprocess.CompletedProcess(timeout.cmd, 124, output + "\nreadme-tour: timed out after 120 s")
            scopes_problem = check_scopes(args.readme, port, token)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        elapsed = time.monotonic() - began
        if run.returncode != 0:
            print(run.stdout)
            print(open(os.path.join(workdir, "server.log")).read()[-4000:], file=sys.stderr)
            sys.exit(f"readme-tour: FAILED (exit {run.returncode}) after {elapsed:.1f} s; output above")
        if scopes_problem:
            sys.exit(f"readme-tour: FAILED: {scopes_problem}")
        if args.keep_output:
            print(run.stdout)
        print(f"readme-tour: {len(blocks)} blocks of README.md ran as written in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
