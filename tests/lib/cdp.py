#!/usr/bin/env python3
"""Drive a page in headless chromium through the DevTools protocol over a
pipe (--remote-debugging-pipe: no port, no websocket library), for the
browser tests that must act on a page (fill a form, press its button), not
only read the DOM --dump-dom gives.

    cdp.py PROFILE_DIR URL EXPR...

Opens URL, then evaluates each JavaScript expression in the page in turn
(a promise is awaited) and prints one line per expression: its value as
JSON, or "ERROR <text>". Every wait is bounded: an expression that polls
must give up by itself (the tests' `until` helper does). Exit 0 once every
expression ran.
"""
import json
import os
import subprocess
import sys
import time


def redirect(to, fd, op):
    """The shell's redirection putting fd at to (nothing when it is)."""
    if fd == to:
        return ""
    return "%d%s&%d %d%s&- " % (to, op, fd, fd, op)


def main():
    profile, url, exprs = sys.argv[1], sys.argv[2], sys.argv[3:]
    # fd 3: chromium reads commands; fd 4: it writes answers (moved there by
    # the shell, whatever numbers the pipes got here).
    cmd_r, cmd_w = os.pipe()
    ans_r, ans_w = os.pipe()
    argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
            "--user-data-dir=" + profile, "--remote-debugging-pipe", "about:blank"]
    proc = subprocess.Popen(
        ["sh", "-c", 'exec "$@" ' + redirect(3, cmd_r, "<") + redirect(4, ans_w, ">"),
         "sh"] + argv,
        pass_fds=(cmd_r, ans_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(cmd_r)
    os.close(ans_w)
    buf = b""
    next_id = [0]

    def call(method, params=None, session=None, timeout=30.0):
        nonlocal buf
        next_id[0] += 1
        msg = {"id": next_id[0], "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(cmd_w, json.dumps(msg).encode() + b"\0")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                m = json.loads(raw)
                if m.get("id") == next_id[0]:
                    if "error" in m:
                        raise RuntimeError(m["error"].get("message", "error"))
                    return m.get("result", {})
            chunk = os.read(ans_r, 65536)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            buf += chunk
        raise RuntimeError(method + ": no answer")

    def event(name, timeout=30.0):
        nonlocal buf
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                if json.loads(raw).get("method") == name:
                    return
            chunk = os.read(ans_r, 65536)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            buf += chunk
        raise RuntimeError(name + ": not seen")

    try:
        targets = call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        session = call("Target.attachToTarget",
                       {"targetId": page["targetId"], "flatten": True})["sessionId"]
        call("Page.enable", session=session)
        call("Page.navigate", {"url": url}, session=session)
        event("Page.loadEventFired")
        for e in exprs:
            r = call("Runtime.evaluate", {"expression": e, "awaitPromise": True,
                                          "returnByValue": True}, session=session,
                     timeout=60.0)
            if "exceptionDetails" in r:
                d = r["exceptionDetails"]
                text = d.get("exception", {}).get("description") or d.get("text")
                print("ERROR " + str(text).replace("\n", " "), flush=True)
            else:
                print(json.dumps(r["result"].get("value")), flush=True)
        call("Browser.close")
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
